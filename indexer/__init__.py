"""Chain -> database indexer (see DESIGN.md, "Indexer"). Imports `backend` only."""
