"""The domain's own words and conventions, defined once and shared by the contracts' readers (indexer, services,
API, pages): no database, no chain, no HTTP here."""

import datetime as _dt

#: Disclosure control: a count of people below this is never published where it could single them out (votes of
#: one segment on one proposal, attendance of one event, voters who attended an organisation's events).
SUPPRESS_BELOW = 5

#: Japan Standard Time (no daylight saving): what members and the city read every date and time in. Times are
#: stored and exchanged in UTC (or as the chain's Unix seconds) and shown in JST.
JST = _dt.timezone(_dt.timedelta(hours=9), "JST")
