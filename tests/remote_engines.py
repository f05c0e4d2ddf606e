"""Private SPARQL engines for the remote-store tests: Oxigraph server and Virtuoso, each on its own ports.

Both listen on 127.0.0.1 only, keep their files under the test's tmp_path and are stopped by the fixture.
Absent engines skip the tests, except under CI (``CI=true``), where an absent engine is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sparql.errors import StoreError
from sparql.remote import wait_until_up
from tests.conftest import free_port


def engine_binary(name: str, *candidates: str) -> str:
    """The path of an engine's program (beside this Python, or on PATH); skip when absent, fail under CI."""
    for candidate in candidates:
        here = Path(sys.executable).parent / candidate
        found = str(here) if here.exists() else shutil.which(candidate)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is missing: under CI `make test` installs it (.ci/system-deps, pyproject.toml)")
    pytest.skip(f"{name} is not installed")


class EngineServer:
    """One engine process; ``query_url`` is what ``store.url`` names."""

    name = ""
    query_url = ""

    def __init__(self, location: Path, **limits) -> None:
        self.location = location
        self.limits = limits
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> None:
        """Whatever the engine needs once it answers (Virtuoso: allow SPARQL Update)."""

    def start(self) -> "EngineServer":
        self.proc = subprocess.Popen(self.command(), cwd=self.location, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_until_up(self.query_url, timeout_s=60)
            self.ready()
        except (StoreError, subprocess.CalledProcessError):
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop it at once, as a crash would (no checkpoint, no clean shutdown)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class OxigraphServer(EngineServer):
    name = "oxigraph"

    def __init__(self, location: Path, **limits) -> None:
        super().__init__(location, **limits)
        location.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.query_url = self.url + "/query"

    def command(self) -> list[str]:
        command = [engine_binary("the oxigraph server", "oxigraph"), "serve", "--location", str(self.location / "db"),
                   "--bind", f"127.0.0.1:{self.port}"]
        if self.limits.get("timeout_s"):
            command += ["--timeout-s", str(self.limits["timeout_s"])]
        return command


VIRTUOSO_INI = """\
[Database]
DatabaseFile = {db}/virtuoso.db
ErrorLogFile = {db}/virtuoso.log
LockFile = {db}/virtuoso.lck
TransactionFile = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {db}/virtuoso-temp.db
TransactionFile = {db}/virtuoso-temp.trx

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
DirsAllowed = {db}
NumberOfBuffers = 4000
MaxDirtyBuffers = 3000
ThreadsPerQuery = 2
CheckpointInterval = 60
AllowOSCalls = 0

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {db}/vsp
ServerThreads = 8
MaxClientConnections = 8
Charset = UTF-8
EnabledDavVSP = 0

[SPARQL]
ResultSetMaxRows = {max_rows}
MaxQueryExecutionTime = {timeout_s}
MaxQueryCostEstimationTime = 0
"""


class VirtuosoServer(EngineServer):
    """Debian's virtuoso-opensource (virtuoso-t) with a generated virtuoso.ini: its own ports and directory.

    SPARQL Update on /sparql is allowed by granting the SPARQL_UPDATE role to the SPARQL user (Virtuoso's
    documented way, see docs/scale-out.md) through isql once it answers.
    """

    name = "virtuoso"

    def __init__(self, location: Path, **limits) -> None:
        super().__init__(location, **limits)
        (location / "vsp").mkdir(parents=True, exist_ok=True)
        self.sql_port, self.http_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.query_url = self.url + "/sparql"
        ini = VIRTUOSO_INI.format(db=location, sql_port=self.sql_port, http_port=self.http_port,
                                  max_rows=limits.get("max_rows", 1_000_000), timeout_s=limits.get("timeout_s", 0))
        (location / "virtuoso.ini").write_text(ini)

    def command(self) -> list[str]:
        return [engine_binary("Virtuoso (virtuoso-t)", "virtuoso-t"), "-f", "-c", str(self.location / "virtuoso.ini")]

    def ready(self) -> None:
        isql = engine_binary("Virtuoso's isql (isql-vt)", "isql-vt", "isql-v")
        subprocess.run([isql, f"127.0.0.1:{self.sql_port}", "dba", "dba",
                        'exec=GRANT SPARQL_UPDATE TO "SPARQL";'],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


ENGINES = {"oxigraph": OxigraphServer, "virtuoso": VirtuosoServer}
