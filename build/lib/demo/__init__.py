"""The bundled demo catalogue: a deterministic, realistic Wuhan catalogue and its generated data files."""
