"""One module per resource; the URL prefix is the module's name (routes/issues.py serves /issues...)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator

#: The last page a list answers (`?page=`): beyond any real board, and it keeps offsets well inside the 64-bit
#: integers the databases take (a larger page was a 500 from the driver).
MAX_PAGE = 100_000
#: Ids of rows this service numbers itself (organisations, events, issues) are 32-bit integers in the database.
MAX_ROW_ID = 2**31 - 1


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


#: A time in a response. The database keeps UTC; SQLite hands it back without its zone, which is not an RFC 3339
#: `date-time` (the format the OpenAPI description promises): a time without a zone is UTC.
UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]
