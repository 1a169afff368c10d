"""The shared core of the Kanazawa co-creation DAO: configuration, chain client, domain services.

Imports nothing from `indexer`, `frontend_api` or `scripts` (a test enforces it).
"""
