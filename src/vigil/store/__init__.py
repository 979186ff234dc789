"""Persistence: SQLAlchemy models, the database connection, Alembic migrations and the media folder."""
