"""FastAPI application for front ends, the metaverse and the open-data portal. Imports `backend` only."""
