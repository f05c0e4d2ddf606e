"""The portal: home, search and dataset pages, zh-CN first and English with ?lang=en."""

from server.portal.dataset_page import render_dataset_page
from server.portal.views import portal_bp
from server.portal import maps  # noqa: F401  (the map routes: /map, /map/basemap.geojson)
from server.portal import pages  # noqa: F401  (help, developers, privacy, terms, robots.txt, sitemap.xml, favicon)

__all__ = ["portal_bp", "render_dataset_page"]
