"""A throwaway PostgreSQL + PostGIS cluster for the tests: initdb in a temporary directory, started on a free
loopback port with trust authentication, one database with PostGIS, stopped and removed at the end.

PostgreSQL refuses to run as root, so under root (CI) the cluster runs as the ``postgres`` system user that the
Debian package creates. Durability is switched off (fsync, full-page writes): the cluster lives for one session.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DATABASE = "wodp_test"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL or PostGIS is not installed here (the message says what is missing)."""


def _bin_dir() -> Path:
    """Find the directory of initdb/pg_ctl/postgres: $PG_BINDIR, pg_config on PATH, Debian's layout."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for candidate in candidates:
        if candidate and all((Path(candidate) / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql")


def _check_postgis(bin_dir: Path) -> None:
    share = subprocess.run([bin_dir / "pg_config", "--sharedir"], capture_output=True, text=True).stdout.strip()
    if not (Path(share) / "extension" / "postgis.control").exists():
        raise PostgresUnavailable(f"PostGIS is not installed for {bin_dir} (no {share}/extension/postgis.control): "
                                  "install postgresql-15-postgis-3")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """A running temporary cluster; ``dsn`` reaches its PostGIS database."""

    def __init__(self) -> None:
        self.bin_dir = _bin_dir()
        _check_postgis(self.bin_dir)
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root and there is no postgres system user") from exc
        self.root = Path(tempfile.mkdtemp(prefix="wodp-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.running = False
        if self.user:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        atexit.register(self.stop)

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={DATABASE}"

    def _run(self, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self.user:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def start(self) -> "PostgresCluster":
        """Initialise the cluster, start it on a free port, create the database with PostGIS."""
        out = self._run(self.bin_dir / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-locale", "--no-sync")
        if out.returncode:
            raise RuntimeError(f"initdb failed:\n{out.stdout}\n{out.stderr}")
        for _attempt in range(3):  # a free port can be taken between choosing and binding it
            self.port = _free_port()
            options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -F "
                       "-c full_page_writes=off -c synchronous_commit=off -c max_connections=60")
            out = self._run(self.bin_dir / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30",
                            "-o", options, "start")
            if out.returncode == 0:
                self.running = True
                break
        else:
            raise RuntimeError(f"pg_ctl start failed:\n{out.stdout}\n{out.stderr}\n{self._log_tail()}")
        self._create_database()
        return self

    def _create_database(self) -> None:
        import psycopg

        admin = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (immediately: nothing here needs to survive) and remove its directory."""
        if self.running:
            self._run(self.bin_dir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> tuple[PostgresCluster, float]:
    """Start a cluster; return it and how long start-up took, in seconds."""
    started = time.monotonic()
    cluster = PostgresCluster()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster, time.monotonic() - started


def fresh_database_url(dsn: str, prefix: str = "wodp") -> str:
    """Create a new database with PostGIS in the cluster of ``dsn``; return its postgresql:// URL."""
    import uuid

    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://{parts['user']}@{parts['host']}:{parts['port']}/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    return url
