"""The management center's state and rules: harvest trends and alerts, working days, freshness, work orders."""
