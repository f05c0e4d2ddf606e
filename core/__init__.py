"""Leaf helpers every part may use: the root error, dataset identifiers, SQLite connections."""
