"""Celery workers: the app (workers.app), thin tasks (workers.tasks) and Flower's launcher.

Start a worker from the repository root (celeryconfig.py is a top-level module):

    celery -A workers.app worker --pool=prefork --concurrency=1 --queues=solve,light

with DATABASE_URL and REDIS_URL set (README.md, "Configuration").
"""
