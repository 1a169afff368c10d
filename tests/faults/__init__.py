"""Fault tests of the whole service: many members voting through the API while the worker is killed, the chain
stops, PostgreSQL or Redis restarts, or the content store refuses writes; then the same three checks after every
fault (tests/faults/scenario.py): every accepted ballot is on chain exactly once, the index equals a fresh
re-index, and no pinned document is lost."""
