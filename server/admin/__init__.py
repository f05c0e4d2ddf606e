"""The management center (/admin/...): one blueprint, its pages in modules beside it, zh-CN first (?lang=en)."""

from flask import Blueprint

admin_bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

from server.admin import review, workbench  # noqa: E402,F401  (each adds its routes to admin_bp)
