"""The metadata index: SQLAlchemy Core on SQLite (default) or PostgreSQL, Alembic migrations."""
