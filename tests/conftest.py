"""Shared fixtures: settings over a temporary data directory, the demo platform, a live server."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Return a path in ../shared, skipping the test when it is absent (failing under CI)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: under CI the shared reference data must be present")
        pytest.skip(f"{path} is absent")
    return path


def require_tool(name: str) -> str:
    """Return the path of a system tool `make test` installs (.ci/system-deps); skip when absent, fail under CI."""
    import shutil

    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing: under CI `make test` installs it (.ci/system-deps)")
        pytest.skip(f"{name} is not installed")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings_factory(tmp_path):
    from config import load_settings

    def make(**sections):
        return load_settings({}, overrides=sections, home=tmp_path)

    return make


@pytest.fixture(scope="session")
def demo_platform(tmp_path_factory):
    """The full demo catalogue in a temporary store, with query workers, shared by a session."""
    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    home = tmp_path_factory.mktemp("demo-home")
    # no rate limits: the session's tests all reach this one app from one address (limits: test_throttle.py)
    # the data API loads a dataset's tables at its first request here (not all 1,700 at publication)
    settings = load_settings({}, overrides={"sparql": {"timeout_s": 5.0}, "rate_limits": {"enabled": False},
                                            "data_api": {"load_at_publication": False}}, home=home)
    platform = Platform.open(settings)
    load_demo(platform)
    yield platform
    platform.close()


@pytest.fixture(scope="session")
def demo_app(demo_platform):
    from server.app import create_app

    app = create_app(platform=demo_platform)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def demo_client(demo_app):
    return demo_app.test_client()


class LiveServer:
    """A real `wodp demo` process on a free loopback port."""

    def __init__(self, home: Path, port: int, env: dict[str, str]) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.log = home / "server.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
        )
        self._wait()
        self.totals = self._totals()

    def _wait(self) -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("wodp demo exited:\n" + self.log.read_text(errors="replace"))
            try:
                with urllib.request.urlopen(self.url + "/catalog.ttl?page_size=1", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("wodp demo did not start in time:\n" + self.log.read_text(errors="replace"))

    def _totals(self) -> dict[str, int]:
        totals = {}
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.match(r"^\s{2}(\S.*?)\s{2,}(\d+)$", line)
            if match:
                totals[match.group(1).strip()] = int(match.group(2))
        return totals

    def wodp(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def live_demo(tmp_path_factory):
    """`wodp demo` serving the demo catalogue over HTTP, as a user starts it."""
    home = tmp_path_factory.mktemp("live-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
    env.update(WODP_HOME=str(home), WODP_SITE__BASE_URI=f"http://127.0.0.1:{port}",
               WODP_SPARQL__TIMEOUT_S="3", WODP_SPARQL__WORKERS="4", PYTHONPATH=str(ROOT),
               WODP_DATA_API__LOAD_AT_PUBLICATION="false",  # tables loaded at their first request: no 1,700 loads
               WODP_DATA_CHECKS__DAILY="false")  # nor the daily checks of every file at start-up (~90 s of CPU)
    server = LiveServer(home, port, env)
    yield server
    server.stop()


def _claim_tests_package() -> None:
    """Make the package name `tests` mean this folder: pygeoapi 0.24.0's wheel installs a top-level `tests`
    package into site-packages, which otherwise shadows it (`from tests.conftest import ...` then fails)."""
    here = str(Path(__file__).resolve().parent)
    module = sys.modules.get("tests")
    if module is None or here not in [str(Path(p).resolve()) for p in getattr(module, "__path__", [])]:
        import types

        package = types.ModuleType("tests")
        package.__path__ = [here]
        sys.modules["tests"] = package


_claim_tests_package()


@pytest.fixture(scope="session")
def postgis_dsn():
    """A temporary PostgreSQL + PostGIS cluster for the session (tests/pg.py); skips when absent, fails under CI."""
    from tests.pg import PostgresUnavailable, start_cluster

    try:
        cluster, seconds = start_cluster()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}: under CI `make test` installs PostgreSQL and PostGIS (.ci/system-deps)")
        pytest.skip(str(exc))
    print(f"PostGIS cluster up in {seconds:.2f} s at {cluster.dsn}")
    yield cluster.dsn
    cluster.stop()


@pytest.fixture(scope="session")
def ogc_platform(tmp_path_factory):
    """A small demo catalogue (60 datasets, 8 spatial) on an opened platform without query workers, for /ogc."""
    from config import load_settings
    from server.catalogue import load_demo
    from server.platform import Platform

    home = tmp_path_factory.mktemp("ogc-home")
    settings = load_settings({}, overrides={"demo": {"datasets": 60, "spatial": 8}}, home=home)
    platform = Platform.open(settings, start_workers=False)
    load_demo(platform)
    yield platform
    platform.close()


def pg_schema_url(dsn: str, schema: str) -> str:
    """Make a fresh schema in the test cluster and return a database.url whose search_path is it
    (then public, where the cluster's PostGIS types are: the CSW repository needs them)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    parts = conninfo_to_dict(dsn)
    return (f"postgresql://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"
            f"?options=-csearch_path%3D{schema}%2Cpublic")  # PostGIS's types live in public


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """database.url for both backends of the data layer (core/database.py): None (SQLite files) and PostgreSQL."""
    if request.param == "sqlite":
        yield None
        return
    import uuid

    from core.database import dispose_engines

    url = pg_schema_url(request.getfixturevalue("postgis_dsn"), "t" + uuid.uuid4().hex[:12])
    yield url
    dispose_engines()


# -- accounts and sign-in (access/, server/auth.py) ---------------------------------------------------------
STAFF_PASSWORD = "Test-passw0rd-测试"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_account(platform, role: str, department: str | None = None, password: str | None = STAFF_PASSWORD):
    """Make an account of a role (a publisher of D017 unless another department is named); return it."""
    import secrets

    if role == "publisher" and department is None:
        department = "D017"
    login = f"{role}-{(department or 'x').lower()}-{secrets.token_hex(3)}"
    return platform.accounts.add(login, role, f"测试{role}", department, password)


def csrf_of(html: str) -> str:
    """Return the CSRF token a page's form carries."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a csrf_token"
    return found.group(1)


def sign_in_as(client, login: str, password: str = STAFF_PASSWORD, address: str | None = None):
    """Post the sign-in form (with its CSRF token) and return the answer."""
    import secrets

    page = client.get("/admin/login")
    assert page.status_code == 200, page.status_code
    # each sign-in from an address of its own: rate_limits.sign_in counts per address, tests sign in often
    address = address or f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    return client.post("/admin/login", data={"login": login, "password": password,
                                             "csrf_token": csrf_of(page.get_data(as_text=True))},
                       environ_overrides={"REMOTE_ADDR": address})


@pytest.fixture
def sign_in():
    """sign_in(client, role, department=None) -> account id: make an account of that role and sign the client in.

    Afterwards the client sends the session's CSRF token (X-CSRFToken) with every request, so forms and
    session-authenticated JSON posts pass the CSRF check; ``client.csrf_token`` holds it for a form field.
    """

    def do(client, role: str, department: str | None = None) -> str:
        account = make_account(client.application.extensions["wodp"], role, department)
        answer = sign_in_as(client, account.login)
        assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
        page = client.get("/admin/logout")  # the sign-out form carries the signed-in session's CSRF token
        client.csrf_token = csrf_of(page.get_data(as_text=True))
        client.environ_base["HTTP_X_CSRFTOKEN"] = client.csrf_token
        return account.id

    return do


@pytest.fixture
def staff_token():
    """staff_token(platform, role, department=None) -> "wodp.<id>.<secret>": a token of a new account of that
    role, scope manage (and push for a publisher), for 'Authorization: Bearer …'."""

    def do(platform, role: str, department: str | None = None) -> str:
        account = make_account(platform, role, department, password=None)
        scopes = ("manage", "push") if role == "publisher" else ("manage",)
        return platform.accounts.add_token(account.id, scopes, "test")[1]

    return do


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(where) -> dict:
    """Return 'Authorization: Bearer …' of a new admin token (scope manage), for the management JSON APIs.

    ``where``: an opened platform, a Flask test client (its app's platform), or a WODP_HOME path (a server
    running in another process: its accounts file is opened beside it)."""
    if isinstance(where, (str, Path)):
        from access.accounts import AccountStore

        accounts = AccountStore(Path(where) / "accounts.sqlite")
        try:
            account = make_account(type("P", (), {"accounts": accounts})(), "admin", password=None)
            return bearer(accounts.add_token(account.id, ("manage",), "test")[1])
        finally:
            accounts.close()
    platform = where.application.extensions["wodp"] if hasattr(where, "application") else where
    account = make_account(platform, "admin", password=None)
    return bearer(platform.accounts.add_token(account.id, ("manage",), "test")[1])
