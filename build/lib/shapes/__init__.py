"""shapes: placeholder for a later issue (see ../shared/DESIGN.md)."""
