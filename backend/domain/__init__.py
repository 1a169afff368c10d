"""The domain's own words and conventions, defined once and shared by the contracts' readers (indexer, services,
API, pages): no database, no chain, no HTTP here."""

#: Disclosure control: a count of people below this is never published where it could single them out (votes of
#: one segment on one proposal, attendance of one event, voters who attended an organisation's events).
SUPPRESS_BELOW = 5
