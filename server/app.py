"""Make the Flask application: one blueprint per door, one error handler for all."""

from __future__ import annotations

import logging

from flask import Flask, request

from config.settings import Settings, load_settings
from server.platform import Platform

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, platform: Platform | None = None,
               *, start_workers: bool = True) -> Flask:
    """Build the application over an opened platform (opened here when not given)."""
    settings = settings or (platform.settings if platform else load_settings())
    platform = platform or Platform.open(settings, start_workers=start_workers)
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_request_bytes
    app.json.ensure_ascii = False
    app.extensions["wodp"] = platform

    from server import data_api  # the data API (issue 13)
    from server import (auth, changes, csw, dcat, errors, files, harvest_api, health, http, internal, layers_api,
                        metrics, ogc_api, push_api, services_pages, showcase_pages, sparql_endpoint, submitted_files,
                        throttle, validation_api, vocab)
    from server.admin import admin_bp, audit_view, moderation  # management center; auditor: /admin/audit
    from server.admin.department_page import department_bp
    from server.portal import portal_bp
    from server.portal.feedback import feedback_bp
    from server.requests_pages import bp as requests_bp

    app.register_blueprint(portal_bp)
    app.register_blueprint(admin_bp)  # the management center (/admin/...)
    app.register_blueprint(audit_view.bp)
    app.register_blueprint(department_bp)  # /admin/department (manage/dashboard.py's numbers)
    app.register_blueprint(dcat.bp)
    app.register_blueprint(sparql_endpoint.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(data_api.bp)  # /api/data/{id}: rows of every tabular file (tabular/datastore.py)
    app.register_blueprint(internal.bp)
    app.register_blueprint(validation_api.bp)
    app.register_blueprint(harvest_api.bp)
    app.register_blueprint(layers_api.bp)
    app.register_blueprint(push_api.bp)
    app.register_blueprint(changes.bp)
    app.register_blueprint(csw.bp)
    app.register_blueprint(ogc_api.bp)
    app.register_blueprint(vocab.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(submitted_files.bp)
    app.register_blueprint(moderation.bp)  # /admin/moderation: comments approved or rejected (Action.REVIEW)
    app.register_blueprint(feedback_bp)  # ratings and comments of the public (services/feedback.py)
    app.register_blueprint(services_pages.bp)  # /apply, /account/applications, /admin/applications
    app.register_blueprint(requests_bp)  # /requests: 纠错 and 数据需求, the departments' replies (services/requests.py)
    app.register_blueprint(showcase_pages.bp)  # /showcase, /account/showcase, /admin/showcase (应用成果)
    errors.register(app)
    http.register(app)
    auth.install(app, settings)  # before the limits: the sign-in page is one of their doors

    @app.before_request
    def _recover_storage():
        """Once the disk had no space left: look (at most every storage.recheck_s) whether it is back."""
        if platform.storage is not None and platform.storage.degraded and request.path != "/health/live":
            platform.storage.recover()

    throttle.install(app, settings)
    if settings.site.proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.site.proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)
    metrics.install(app)  # outermost: later wrappers (answer cache, web process) go inside (metrics.wrap_inner)
    from server import usage_counting

    usage_counting.install(app, platform)  # outside even the metrics: cached answers are counted too
    return app


def platform_of(app: Flask) -> Platform:
    return app.extensions["wodp"]
