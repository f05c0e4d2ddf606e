"""ogc: spatialization of datasets (coordinates, geocoding, boundaries); CSW and OGC API follow (DESIGN.md)."""
