"""Alembic migrations of the data layer (core/database.py): one branch per part, labelled by its name."""
