"""The management center's blueprint package (/admin/...): zh-CN first, English with ?lang=en.

Routes are thin: they call harvesters/ (sources, jobs) and manage/ (trends, alerts) and render templates
beside them over the portal's base template. Every route is guarded (server.auth.require): reading needs
``read-management`` for every department (admin, reviewer, auditor; a publisher's reach is its own department's
datasets, not the whole platform's sources and settings); adding, editing, disabling and running sources need
``harvest`` (admin); accounts and roles need ``manage-accounts`` (admin).
"""

from flask import Blueprint

admin_bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
                     static_folder="static", static_url_path="/static")

from server.admin import accounts_views, console, sources_views  # noqa: E402,F401  (the routes)

__all__ = ["admin_bp"]
