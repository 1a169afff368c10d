"""Celery: one app (backend/tasks/app.py), tasks in backend/tasks/jobs.py. Tasks take ids, are idempotent, and the
database (not the broker) is the record of what must still happen."""
