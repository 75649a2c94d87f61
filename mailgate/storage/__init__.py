"""Persistence: SQLAlchemy models, the engine and units of work, query functions, migrations."""
