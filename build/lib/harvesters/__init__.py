"""Harvesting: sources, change detection, jobs, and the publication gate every write goes through."""
