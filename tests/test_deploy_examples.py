"""The deployment examples (deploy/, docs/deployment.md) use only settings, commands and paths that exist.

Each file is parsed as what it is (YAML settings overlays, systemd units, the compose file, nginx, Prometheus):
every settings overlay and every set of WODP_* variables loads through the settings loader (unknown keys,
secrets written in a file and bad values are refused there), every `wodp …` command parses with the CLI's own
parser, every `oxigraph serve` option is one the installed server lists, and every HTTP path a balancer or a
scraper is pointed at is a route of the application.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _unit(path: Path) -> dict[str, list[str]]:
    """Return the key → values of a systemd unit (every section; a key may repeat)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def _env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value
    return env


def _local(path: str, mounts: dict[str, Path] | None = None) -> Path:
    """Map a path on the target machine (/etc/wodp/wodp.yml) to the example file that stands for it."""
    if mounts and path in mounts:
        return mounts[path]
    if path == "/etc/wodp/secrets.env":
        return DEPLOY / "secrets.env.example"
    candidate = DEPLOY / Path(path).name
    assert candidate.exists(), f"{path} names no example file in deploy/"
    return candidate


def _load(env: dict[str, str], where: str, mounts: dict[str, Path] | None = None):
    """Load settings as the platform would with this environment; fail naming the file when they are refused."""
    from config import SettingsError, load_settings

    env = dict(env)
    if "WODP_CONFIG" in env:
        env["WODP_CONFIG"] = str(_local(env["WODP_CONFIG"], mounts))
    env.setdefault("WODP_HOME", "/var/lib/wodp")
    try:
        return load_settings({k: v for k, v in env.items() if k.startswith("WODP_")})
    except SettingsError as exc:
        pytest.fail(f"{where}: the settings it gives are refused: {exc}")


def _check_wodp(argv: list[str], where: str) -> None:
    from server.cli import build_parser

    try:
        build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{where}: `{shlex.join(argv)}` is not a command of the wodp CLI")


def _check_oxigraph(argv: list[str], where: str) -> None:
    binary = ROOT / ".venv" / "bin" / "oxigraph"
    if not binary.exists():
        pytest.skip("the oxigraph server is not installed")
    listed = subprocess.run([str(binary), argv[1], "--help"], capture_output=True, text=True, timeout=30).stdout
    for option in (a for a in argv[2:] if a.startswith("--")):
        assert re.search(rf"(^|\s){re.escape(option)}\b", listed), f"{where}: oxigraph {argv[1]} has no {option}"


def _check_command(argv: list[str], where: str) -> None:
    name = Path(argv[0]).name
    if name == "wodp":
        _check_wodp(argv, where)
    elif name == "oxigraph":
        _check_oxigraph(argv, where)


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    """The URL rules of the application."""
    from config import load_settings
    from server.app import create_app
    from server.platform import Platform

    settings = load_settings({}, overrides={"csw": {"enabled": False}}, home=tmp_path_factory.mktemp("routes"))
    platform = Platform.open(settings, start_workers=False)
    try:
        yield {rule.rule for rule in create_app(settings, platform, start_workers=False).url_map.iter_rules()}
    finally:
        platform.close()


def test_every_settings_overlay_loads():
    overlays = sorted(DEPLOY.glob("*.yml"))
    overlays = [p for p in overlays if p.name not in ("compose.yml", "prometheus.yml")]
    assert {p.name for p in overlays} >= {"wodp.yml", "wodp-remote-store.yml"}
    for path in overlays:
        settings = _load({"WODP_CONFIG": str(path)}, path.name)
        assert settings.metrics.enabled
    remote = _load({"WODP_CONFIG": str(DEPLOY / "wodp-remote-store.yml")}, "wodp-remote-store.yml")
    assert remote.store.url and remote.features.backend == "postgis"


def test_the_secrets_example_names_secrets_only_in_the_environment():
    from config.settings import secret_keys

    env = _env_file(DEPLOY / "secrets.env.example")
    settings = _load(env, "secrets.env.example")
    assert settings.features.backend == "postgis"
    named = {tuple(k[len("WODP_"):].lower().split("__", 1)) for k in env}
    assert named - {("features", "backend")} <= secret_keys()


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units_use_real_settings_and_commands(unit):
    keys = _unit(unit)
    env: dict[str, str] = {}
    for value in keys.get("Environment", []):
        for item in shlex.split(value):
            name, _, val = item.partition("=")
            env[name] = val
    for value in keys.get("EnvironmentFile", []):
        env.update(_env_file(_local(value.lstrip("-"))))
    if any(k.startswith("WODP_") for k in env):
        _load(env, unit.name)
    commands = keys.get("ExecStart", [])
    assert commands, f"{unit.name} starts nothing"
    for command in commands:
        _check_command(shlex.split(command), unit.name)


def test_the_harvest_timer_starts_the_harvest_unit():
    timer = _unit(DEPLOY / "systemd" / "wodp-harvest.timer")
    assert timer["OnCalendar"] and (DEPLOY / "systemd" / "wodp-harvest.service").exists()


def test_the_compose_file_uses_real_settings_commands_and_paths(routes):
    compose = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "oxigraph", "wodp"} <= set(services)
    for name, service in services.items():
        command = service.get("command")
        if command:
            _check_command(command if isinstance(command, list) else shlex.split(command), f"compose {name}")
    wodp = services["wodp"]
    mounts = {}
    for volume in wodp.get("volumes", []):
        source, _, target = volume.partition(":")
        if source.startswith("./"):
            mounts[target.split(":", 1)[0]] = DEPLOY / source[2:]
    settings = _load(wodp["environment"], "compose wodp", mounts)
    assert settings.store.url == "http://oxigraph:7878" and settings.features.backend == "postgis"
    probe = " ".join(wodp["healthcheck"]["test"])
    path = re.search(r"http://[^/]+(/[^'\"\s]*)", probe).group(1)
    assert path in routes and path == "/health/ready"
    assert settings.server.port == int(wodp["ports"][0].split(":")[-1])


def test_nginx_and_prometheus_point_at_real_routes(routes):
    nginx = (DEPLOY / "nginx" / "wodp.conf").read_text()
    for path in re.findall(r"location\s+=\s+(\S+)\s*\{", nginx):
        assert path in routes, f"nginx names {path}, which the platform does not serve"
    body = re.search(r"client_max_body_size\s+(\d+)m;", nginx).group(1)
    settings = _load({"WODP_CONFIG": str(DEPLOY / "wodp.yml")}, "wodp.yml")
    assert int(body) << 20 == settings.server.max_request_bytes
    assert settings.site.proxies == 1  # nginx is the one trusted proxy
    upstream = re.search(r"server\s+127\.0\.0\.1:(\d+)", nginx).group(1)
    assert int(upstream) == settings.server.port
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    for job in prometheus["scrape_configs"]:
        assert job["metrics_path"] in routes


def test_the_oxigraph_server_is_the_version_the_tests_run():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tested = next(d for d in project["project"]["optional-dependencies"]["test"] if d.startswith("oxigraph=="))
    for path in [DEPLOY / "Dockerfile", *UNITS]:
        for pin in re.findall(r"oxigraph==[\d.]+", path.read_text()):
            assert pin == tested, f"{path.name} installs {pin}, the tests run {tested}"


def test_the_scaled_out_examples_run_gunicorn_and_queue_workers_over_shared_engines():
    assert not (DEPLOY / "later").exists()  # nothing planned is left as a placeholder
    services = yaml.safe_load((DEPLOY / "compose.yml").read_text())["services"]
    assert services["wodp"]["command"][:4] == ["wodp", "serve", "--gunicorn", "--workers"]
    assert services["worker"]["command"] == ["wodp", "worker"] and services["worker"]["deploy"]["replicas"] == 2
    assert services["scheduler"]["command"] == ["wodp", "worker", "--scheduler"]
    homes = {s["environment"]["WODP_HOME"] for s in (services["wodp"], services["worker"], services["scheduler"])}
    assert homes == {"/var/lib/wodp"} and services["worker"]["volumes"] == services["wodp"]["volumes"]
    settings = _load(services["worker"]["environment"], "compose worker",
                     {"/etc/wodp/wodp.yml": DEPLOY / "wodp-remote-store.yml"})
    assert settings.harvest.queue == "postgres" and settings.database.url and settings.store.url
    secrets = _env_file(DEPLOY / "secrets.env.example")
    for name in ("wodp-web-gunicorn.service", "wodp-worker@.service", "wodp-scheduler.service"):
        unit = _unit(DEPLOY / "systemd" / name)
        env = dict(item.split("=", 1) for value in unit["Environment"] for item in shlex.split(value))
        settings = _load(env | secrets, name)
        assert settings.store.url and settings.harvest.queue == "postgres" and settings.database.url, name


def test_the_commands_of_the_deployment_guide_exist():
    from server.cli import build_parser

    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    text = (ROOT / "docs" / "deployment.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S)
    checked = 0
    for line in (line.strip() for block in blocks for line in block.splitlines()):
        argv = shlex.split(line.split(" #", 1)[0]) if re.search(r"(^|\s|/)wodp\s", line) else []
        starts = [i for i, a in enumerate(argv[:-1]) if Path(a).name == "wodp" and argv[i + 1] in subcommands]
        if not starts:
            continue
        _check_wodp(argv[starts[0]:], f"docs/deployment.md: {line}")
        checked += 1
    assert checked >= 5
    assert "wodp worker" in text and "wodp serve --gunicorn" in text
