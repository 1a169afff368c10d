"""One module per resource; the URL prefix is the module's name (routes/issues.py serves /issues...)."""

from __future__ import annotations

#: The last page a list answers (`?page=`): beyond any real board, and it keeps offsets well inside the 64-bit
#: integers the databases take (a larger page was a 500 from the driver).
MAX_PAGE = 100_000
#: Ids of rows this service numbers itself (organisations, events, issues) are 32-bit integers in the database.
MAX_ROW_ID = 2**31 - 1
