"""Data files read into DuckDB with typed columns, and data-quality checks on the data itself.

``tabular.read`` reads CSV (UTF-8, UTF-8 with BOM, GBK, GB18030), XLSX, JSON arrays of objects and GeoJSON into
a ``Table`` and loads it into DuckDB; ``tabular.checks`` finds defects in a loaded table and in the catalogue's
titles; ``tabular.findings`` keeps the findings per dataset (part ``quality_checks``) and writes their DQV
measurements. This part uses ``core`` only: settings, the store and the web are passed in by its callers.
"""
