"""The city's public results pages under /results (routes.py), their strings (messages.py) and templates."""
