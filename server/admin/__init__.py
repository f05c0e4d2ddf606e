"""The management center's blueprint package (/admin/...): zh-CN first, English with ?lang=en.

Routes are thin: they call harvesters/ (sources, jobs) and manage/ (trends, alerts) and render templates
beside them over the portal's base template.
"""

from flask import Blueprint

admin_bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
                     static_folder="static", static_url_path="/static")

from server.admin import console, sources_views  # noqa: E402,F401  (the routes)

__all__ = ["admin_bp"]
