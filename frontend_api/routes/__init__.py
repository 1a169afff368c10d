"""One module per resource; the URL prefix is the module's name (routes/issues.py serves /issues...)."""
