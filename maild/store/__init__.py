"""The store: peewee models, connecting to SQLite or PostgreSQL, and migrations."""
