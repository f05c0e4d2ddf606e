"""The portal: home, search and dataset pages, zh-CN first and English with ?lang=en."""

from server.portal.dataset_page import render_dataset_page
from server.portal.views import portal_bp

__all__ = ["portal_bp", "render_dataset_page"]
