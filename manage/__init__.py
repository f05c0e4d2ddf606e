"""The management center's state and rules: working days, freshness, work orders, department dashboards,
harvest trends and alerts."""
