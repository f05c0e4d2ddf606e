"""The publication gate: every dataset enters the store through it (validation, hooks, quarantine)."""
