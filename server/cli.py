"""Run the platform from the command line: wodp demo | serve | load | remove | export | account."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

from config.settings import Settings, SettingsError, load_settings
from core.logs import FORMAT, bound_log_lines
from core.errors import WodpError
from sparql.errors import StoreBusyError

log = logging.getLogger("wodp")
DEFAULT_BASE_URI = "http://127.0.0.1:8000"
_LAST: dict = {}  # the answer of the last write, for the exit code


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, dict] = {}
    if getattr(args, "host", None):
        overrides.setdefault("server", {})["host"] = args.host
    if getattr(args, "port", None):
        overrides.setdefault("server", {})["port"] = args.port
    settings = load_settings(overrides=overrides)
    stored = stored_base_uri(settings)
    if settings.site.base_uri == DEFAULT_BASE_URI and (overrides or stored):
        # base_uri left at its default is the one this home's catalogue was built with (dataset URIs are their
        # identity: another --port must not give every dataset a second URI); a new home's follows the address
        # given on the command line
        host = settings.server.host if settings.server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        overrides["site"] = {"base_uri": stored or f"http://{host}:{settings.server.port}"}
        settings = load_settings(overrides=overrides)
        if stored and stored != f"http://{host}:{settings.server.port}" and getattr(args, "port", None):
            print(f"wodp: this home's catalogue keeps its base URI {stored} (its dataset URIs); set site.base_uri "
                  f"and re-base through `wodp export` and `wodp load` into a new home to change it", file=sys.stderr)
    logging.basicConfig(level=settings.logging.level, format=FORMAT)
    bound_log_lines(settings.logging.max_line_chars)  # no line carries a whole record (core/logs.py)
    # httpx logs every request URL at INFO; URLs may carry keys (Tianditu's tk=), so keep it to warnings
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic tells each plugin and context it sets up (~100 lines per start); core.database logs each migration
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings


BASE_URI_FILE = "base-uri"  # in WODP_HOME: the base URI the home's dataset URIs were minted under


def stored_base_uri(settings: Settings) -> str | None:
    """Return the base URI this home's catalogue was built with (None for a new home)."""
    try:
        return (settings.home / BASE_URI_FILE).read_text("utf-8").strip() or None
    except OSError:
        return None


def keep_base_uri(settings: Settings, store=None) -> None:
    """Refuse a base URI other than the home's (never a second URI for every dataset); remember a new home's.

    A home whose store holds no dataset yet (store given and empty) takes the new base URI.
    """
    stored = stored_base_uri(settings)
    if stored is None and store is not None:
        minted = _minted_base(store)  # a home made before the base URI was kept: its datasets tell
        if minted and minted != settings.base_uri:
            (settings.home / BASE_URI_FILE).write_text(minted + "\n", "utf-8")
            raise WodpError(f"the datasets of {settings.home} were minted under {minted}, not {settings.base_uri}: "
                            f"kept now in {settings.home / BASE_URI_FILE}; run the command again (site.base_uri "
                            f"left at its default keeps it), or re-base through `wodp export` and `wodp load` "
                            f"into a new WODP_HOME")
    if stored is None or (stored != settings.base_uri and store is not None and store.count_datasets() == 0):
        settings.home.mkdir(parents=True, exist_ok=True)
        (settings.home / BASE_URI_FILE).write_text(settings.base_uri + "\n", "utf-8")
    elif stored != settings.base_uri:
        raise WodpError(f"site.base_uri is {settings.base_uri} but the catalogue of {settings.home} was built with "
                        f"{stored}: its datasets would get a second URI. Leave site.base_uri at {stored} (or unset), "
                        f"or re-base deliberately: `wodp export` this home and `wodp load` it into a new WODP_HOME "
                        f"with the new site.base_uri")


def _minted_base(store) -> str | None:
    """Return the base URI of a dataset the store holds (every dataset is <base>/datasets/<id>), None if none."""
    rows = list(store.query("SELECT ?d WHERE { GRAPH ?d { ?d a <http://www.w3.org/ns/dcat#Dataset> } } LIMIT 1"))
    if not rows:
        return None
    uri = rows[0]["d"].value
    return uri.rsplit("/datasets/", 1)[0] if "/datasets/" in uri else None


def serve(settings: Settings, platform=None, demo=None) -> int:
    """Serve the platform until interrupted (with the demo's local sources when given).

    With server.processes 1, this process serves every request (waitress behind server/front.py's limits);
    with more, it is the writer and runs that many web processes (server/processes.py, server/web.py).
    """
    from server.app import create_app
    from server.front import make_server
    from server.internal import write_server_file
    from server.metrics import wrap_inner
    from server.platform import Platform

    platform = platform or Platform.open(settings)
    app = create_app(settings, platform)
    if settings.server.processes <= 1 and settings.server.cache_bytes > 0:
        from server.web import CachedApp  # the web processes keep their own (server/web.py)

        wrap_inner(app, lambda inner: CachedApp(inner, platform.store, settings.server.cache_bytes))
    gate = None
    if demo is not None:
        from server.demo_sources import WarmUpGate

        def _gate(inner):
            nonlocal gate
            gate = WarmUpGate(inner, demo)
            return gate

        wrap_inner(app, _gate)
        platform.extras["warm_up"] = gate.ready  # /health/ready: not ready until the first harvests are done
    harvest = settings.harvest
    if platform.harvesting is not None and harvest.sources and (harvest.scheduler or harvest.retry_limit):
        from harvesters.scheduler import Scheduler

        platform.scheduler = Scheduler(platform.harvesting, settings.harvest)
        platform.scheduler.start()
    platform.start_daily()  # freshness re-measured at start when today's is missing, then daily
    host, port = settings.server.host, settings.server.port
    web = server = None
    if settings.server.processes > 1:
        from server.processes import WebProcesses

        web = WebProcesses(settings, app, platform, ready=gate.ready if gate is not None else None)
    else:
        from core.foreground import waitress_in_hand

        server = make_server(app, settings.server, host=host, port=port, proxies=settings.site.proxies)
        platform.foreground.watch(waitress_in_hand(server.task_dispatcher))  # background work gives way to these
    url = f"http://{host}:{port}"
    app.config["WODP_INTERNAL_TOKEN"] = write_server_file(settings.home, url, os.getpid())

    def _stop(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    if web is not None:
        web.start()
    processes = f", {settings.server.processes} web processes" if web is not None else ""
    print(f"wodp serving {settings.home} on {url}  (catalogue {settings.base_uri}/catalog{processes})", flush=True)
    if gate is not None:
        import threading

        from server.demo_sources import run_demo_harvests

        names = [s.name for s in settings.harvest.sources if s.name.startswith("sample-")]
        threading.Thread(target=run_demo_harvests, args=(platform, names, platform.demo.totals["datasets"], gate),
                         name="demo-harvests", daemon=True).start()
    try:
        web.watch() if web is not None else server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean stop short
        if web is not None:
            web.stop()
        else:
            server.close()
        (settings.home / "server.json").unlink(missing_ok=True)
        platform.close()
    return 0


def metrics_mode(settings: Settings) -> None:
    """With several web processes, keep metrics in files they all write (cleaned now; core/metrics.py)."""
    if settings.server.processes > 1 and settings.metrics.enabled:
        from core.metrics import use_multiprocess

        use_multiprocess(settings.home / "metrics")


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not args.build_only:
        metrics_mode(settings)
    from server import catalogue
    from server.platform import Platform

    sources = None
    if not args.build_only:
        settings, sources = _with_demo_sources(settings)
    platform = Platform.open(settings, start_workers=not args.build_only)
    try:
        keep_base_uri(settings, platform.store)
    except WodpError:
        platform.close()
        raise
    demo = catalogue.load_demo(platform)
    stored = platform.store.count_datasets()
    print("demo catalogue built:")
    for key, value in sorted(demo.totals.items()):
        print(f"  {'generator ' + key if key == 'datasets' else key:<28} {value}")
    print(f"  {'stored datasets':<28} {stored}")
    print(f"  {'search index datasets':<28} {platform.search.count()}")
    layers = [info for info in platform.features.layers() if info.kind == "feature"]
    print(f"  {'layers (OGC API Features)':<28} {len(layers)}")
    print(f"  {'layer features placed':<28} {sum(i.count for i in layers)} of "
          f"{sum(i.report.get('rows', 0) for i in layers)} rows "
          f"({sum(i.report.get('unresolved', 0) for i in layers)} unresolved, /api/layers)")
    if platform.csw is not None:
        print(f"  {'CSW records':<28} {platform.csw.repository.count()}")
    from server.cli_account import demo_accounts

    print("\n".join(demo_accounts(platform.accounts, settings.base_uri, platform.audit)))
    if args.build_only:
        print(f"  {'datasets':<28} {stored}")
        platform.close()
        return 0
    return serve(settings, platform, demo=sources)


def _with_demo_sources(settings: Settings):
    """Add the demo's local sources (served by the demo server under /demo-sources) and turn the scheduler on."""
    from config.settings import HarvestSource
    from server.demo_sources import DemoSources

    host = settings.server.host if settings.server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    sources = DemoSources(settings.base_uri)
    configured = [s for s in settings.harvest.sources if not s.name.startswith("sample-")]
    added = [HarvestSource(**s) for s in sources.sources(f"http://{host}:{settings.server.port}")]
    # the cloud token is a secret (never in a file): the demo's own center gets a fresh one per run
    harvest = settings.harvest.model_copy(update={"sources": configured + added, "scheduler": True,
                                                  "cloud_token": sources.token})
    return settings.model_copy(update={"harvest": harvest}), sources


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if getattr(args, "gunicorn", False):
        from server.runners import serve_gunicorn

        return serve_gunicorn(settings, args.workers)
    metrics_mode(settings)
    from server import catalogue
    from server.platform import Platform

    platform = Platform.open(settings)
    try:
        keep_base_uri(settings, platform.store)
    except WodpError:
        platform.close()
        raise
    catalogue.install_in(platform)  # writes only what changed: an unchanged home keeps its generation
    return serve(settings, platform)


def _running_server(settings: Settings) -> dict | None:
    path = settings.home / "server.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextmanager
def _identity(args: argparse.Namespace):
    """Run a command as who it acts as (server/cli_policy.py): the OS account, or --as ACCOUNT once allowed."""
    from server.audit import acting_from_cli, os_identity
    from server.cli_policy import INSTANCE, acting_account

    account = acting_account(_settings(args), args.as_account, args) if args.as_account else None
    if args.command in INSTANCE:
        yield
        return
    detail = os_identity() | ({"as": account.login} if account is not None else {})
    with acting_from_cli(account.principal() if account is not None else None, detail):
        yield


def _post(server: dict, path: str, body: bytes, content_type: str) -> dict:
    from server.audit import CLI

    acting = CLI.get() or {}
    who = acting.get("principal")
    identity = {**acting.get("detail", {}), **({"account": who.id} if who is not None else {})}
    req = urllib.request.Request(server["url"] + path, data=body, method="POST",
                                 headers={"Content-Type": content_type, "X-WODP-Token": server["token"],
                                          "X-WODP-Command": json.dumps(identity, ensure_ascii=True)})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise WodpError(f"the server refused: {exc.read().decode('utf-8', 'replace')}") from exc


def _with_store(settings: Settings, local, remote) -> int:
    """Write through the running server if it holds the store, else open the store here."""
    from sparql.store import open_store

    try:
        if settings.store.url and _running_server(settings) is not None:
            # nothing locks a remote store: a running server must still make the change, so its indexes follow
            raise StoreBusyError("the running server writes the remote store")
        store = open_store(settings)
    except StoreBusyError:
        server = _running_server(settings)
        if server is None:
            raise
        answer = remote(server)
        _LAST.update(answer)
        print(json.dumps(answer, ensure_ascii=False, indent=1))
        return 0
    from server.platform import Platform

    try:
        platform = Platform.open(settings, start_workers=False, store=store)  # every hook and derived index follows
    except BaseException:
        store.close()
        raise
    try:
        answer = local(platform)
        _LAST.update(answer)
        print(json.dumps(answer, ensure_ascii=False, indent=1))
    finally:
        platform.close()
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    settings = _settings(args)
    keep_base_uri(settings)
    import pyoxigraph as ox

    from sparql.loader import read_files

    graphs = read_files(Path(p) for p in args.files)
    quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(uri)) for uri, ts in graphs.items() for t in ts]
    body = ox.serialize(quads, format=ox.RdfFormat.N_QUADS)
    from server.audit import cli_detail
    from server.internal import load_graphs

    def local(platform):
        return load_graphs(platform, graphs, args.profile, cli_detail())

    code = _with_store(settings, local,
                       lambda server: _post(server, f"/internal/load?profile={args.profile}", body,
                                            "application/n-quads"))
    return code or (3 if _LAST.get("held") else 0)


def cmd_remove(args: argparse.Namespace) -> int:
    """Remove datasets by id, whatever base URI they were published under; exit 1 if an id was not found."""
    settings = _settings(args)
    from server.audit import cli_detail
    from server.catalogue import remove_datasets

    code = _with_store(
        settings,
        lambda platform: remove_datasets(platform, args.ids, cli_detail()),  # by id: no base URI setting needed
        lambda server: _post(server, "/internal/remove", json.dumps(args.ids).encode(), "application/json"),
    )
    missing = _LAST.get("not_found")
    if missing:
        print(f"wodp: no dataset {', '.join(missing)} in the catalogue", file=sys.stderr)
        return 1
    return code


def cmd_load_data(args: argparse.Namespace) -> int:
    """Load datasets' files (or --all) for the data API again and print the counts; exit 1 if an id was not
    found or a file could not be loaded (each named with its reason)."""
    from server.data_loading import run_load_data

    code = _on_datasets(args, run_load_data, "/internal/load-data")
    return 1 if code == 0 and _LAST.get("not_loaded") else code


def _on_datasets(args: argparse.Namespace, run, door: str) -> int:
    """Run a command on the datasets it names (or --all) here, or through the running server's door; exit 1 when
    an id is not in the catalogue (each named)."""
    settings = _settings(args)
    if not args.all and not args.ids:
        raise WodpError("name one or more datasets, or give --all")
    from server.audit import cli_detail

    ids = None if args.all else args.ids
    body = json.dumps({"all": True} if args.all else {"ids": args.ids}).encode()
    code = _with_store(settings, lambda platform: run(platform, ids, cli_detail()),
                       lambda server: _post(server, door, body, "application/json"))
    missing = _LAST.get("not_found")
    if missing:
        print(f"wodp: no dataset {', '.join(missing)} in the catalogue", file=sys.stderr)
        return 1
    return code


def cmd_check_data(args: argparse.Namespace) -> int:
    """Run the data-quality checks on datasets (or --all) and print the counts; exit 1 if an id was not found."""
    from server.data_checks import run_check_data

    return _on_datasets(args, run_check_data, "/internal/check-data")


def cmd_worker(args: argparse.Namespace) -> int:
    from server.runners import cmd_worker as run_worker

    return run_worker(_settings(args), args.concurrency, args.scheduler)


def cmd_harvest(args: argparse.Namespace) -> int:
    """Run one harvest source, or all, here or through the running server; exit 1 if a job failed."""
    settings = _settings(args)
    if not args.all and not args.source:
        raise WodpError("name a harvest source, or give --all")

    def local(platform):
        harvesting = platform.harvesting
        if harvesting.queue is not None:  # harvest.queue postgres: a worker runs them (wodp worker)
            names = harvesting.sources() if args.all else [args.source]
            return {"jobs": [harvesting.submit(n) for n in names]}
        retried = harvesting.recover()
        if args.all:
            done = {x["source"] for x in retried}
            reports = [harvesting.run(n) for n in harvesting.sources() if n not in done]
        else:
            reports = [r for r in retried if r["source"] == args.source] or [harvesting.run(args.source)]
        return {"jobs": retried + reports if args.all else reports}

    body = json.dumps({"all": bool(args.all), "source": args.source}).encode()
    _with_store(settings, local, lambda server: _post(server, "/internal/harvest", body, "application/json"))
    return 1 if any(job.get("status") not in ("succeeded", "queued") for job in _LAST.get("jobs", [])) else 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate files (RDF, or record files through --mapping) and print the report; 1 on violations."""
    settings = _settings(args)
    from publish.gate import report_to_json
    from server.validation_api import read_upload, validate_graphs
    from shapes.validate import get_validator

    from publish.screen import TextLimits

    validator = get_validator(args.engine)
    limits = TextLimits.from_settings(settings.gate)
    violations = 0
    documents = []
    for name in args.files:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise WodpError(f"{path}: cannot read: {exc.strerror}") from exc
        graphs, problems, figures = read_upload(data, path.name, args.mapping, settings.base_uri,
                                                jurisdiction=args.jurisdiction, limits=settings.input_limits)
        report, counted = validate_graphs(validator, graphs, args.profile, figures, limits)
        violations += report.count("Violation")
        documents.append((path, len(graphs), report, problems, counted))
    if args.format == "json":
        print(json.dumps([{"file": str(p), "datasets": n, **report_to_json(r), **c,
                           "mapping_problems": [x.__dict__ for x in pr]} for p, n, r, pr, c in documents],
                         ensure_ascii=False, indent=1))
    else:
        for path, count, report, problems, counted in documents:
            verdict = "conforms" if report.conforms else "does not conform"
            print(f"{path}: {count} datasets, {report.count('Violation')} violations, "
                  f"{report.count('Warning')} warnings: {verdict} to profile {args.profile}")
            _print_figures(counted)
            for f in report.findings:
                print(f"  {f.severity:<9} {f.focus}  {f.path or ''}\n            {f.message_zh} / {f.message_en}")
            for problem in problems:
                print(f"  mapping   {problem.origin} {problem.field or ''}: {problem.message}")
    return 1 if violations else 0


def _print_figures(figures: dict) -> None:
    """Print the figures of a validation (harvesters.figures) as a few indented lines."""
    print(f"  records read {figures['records_read']}, mapped {figures['mapped']}, valid {figures['valid']}, "
          f"held {figures['held']}, duplicates {figures['duplicates']}, key collisions {figures['key_collisions']}")
    for title, key in (("unplaced fields", "unplaced_fields"), ("missing fields", "missing_fields")):
        if figures[key]:
            print(f"  {title}: " + ", ".join(f"{k} ({n})" for k, n in figures[key].items()))
    for title, key in (("unknown values", "unknown_values"), ("bad values", "bad_values")):
        for where, values in figures[key].items():
            print(f"  {title} of {where}: " + ", ".join(f"{v!r} ({n})" for v, n in values.items()))
    for reason in figures["held_reasons"]:
        print(f"  held for  {reason['path']}: {reason['message_en']} ({reason['datasets']} datasets)")
    for kind in figures.get("warning_kinds", ()):
        print(f"  warned    {kind['path']}: {kind['message_en']} ({kind['datasets']} datasets)")


def cmd_export(args: argparse.Namespace) -> int:
    settings = _settings(args)
    import pyoxigraph as ox

    from sparql.store import open_store

    store = open_store(settings)
    fmt = ox.RdfFormat.TRIG if args.format == "trig" else ox.RdfFormat.N_QUADS
    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    try:
        ox.serialize(store.quads(), out, fmt)
    finally:
        store.close()
        if args.output:
            out.close()
    return 0


def part_files(settings) -> dict:
    """Return the embedded SQLite file of each part of the data layer (core/database.py)."""
    return {"harvest": settings.path(settings.harvest.db_path), "changes": settings.home / "changes.sqlite",
            "search": settings.path(settings.search.path), "accounts": settings.home / "accounts.sqlite",
            "links": settings.path(settings.harvest.db_path),
            "catalog_texts": settings.home / "catalog-texts.sqlite",
            "catalog_order": settings.home / "catalog-order.sqlite",
            "quality_scores": settings.home / "quality-scores.sqlite", "datafiles": settings.home / "datafiles.sqlite",
            "submissions": settings.home / "submissions.sqlite",
            "freshness": settings.home / "freshness.sqlite", "workorders": settings.home / "workorders.sqlite",
            "audit": settings.home / "audit.sqlite",
            "quality_checks": settings.home / "quality-checks.sqlite", "usage": settings.home / "usage.sqlite",
            "feedback": settings.home / "feedback.sqlite", "applications": settings.home / "applications.sqlite",
            "quotas": settings.home / "quotas.sqlite", "requests": settings.home / "requests.sqlite",
            "showcase": settings.home / "showcase.sqlite", "throttle": settings.home / "throttle.sqlite"}


def cmd_db(args: argparse.Namespace) -> int:
    """Show or bring the data layer's schema to the code's revision (docs/scale-out.md)."""
    settings = _settings(args)
    from core import database

    url = settings.database.url
    print(f"database: {database.masked(url)}")
    if args.action == "copy":
        return _db_copy(settings, database)
    targets = ([(None, database.engine_for(url))] if url else
               [(part, database.engine_for(None, path)) for part, path in part_files(settings).items()])
    behind = 0
    for only, engine in targets:
        parts = database.PARTS if only is None else (only,)
        if args.action == "upgrade":
            for part in parts:
                database.upgrade(engine, f"{part}@head")
        for part, (held, head) in database.status(engine, parts).items():
            behind += held != head
            print(f"  {part}: {held or 'none'} (code: {head}){'' if held == head else '  BEHIND'}")
        if only is not None:
            engine.dispose()
    if url:  # the harvest queue's tables (procrastinate's own schema) live in the shared database too
        behind += not _queue_schema(url, create=args.action == "upgrade")
    if args.action == "upgrade":
        from server.audit import command_entry

        home_log = _log_before_the_move(settings, database)
        try:
            command_entry(settings, "db.upgrade", "database",
                          {"database": database.masked(url) if url else "embedded"}, audit_log=home_log)
        finally:
            if home_log is not None:
                home_log.close()
    return 1 if behind and args.action == "current" else 0


def _log_before_the_move(settings, database):
    """The home's own (embedded) audit log when the shared database's is still empty and the home has one: the
    upgrade prepares a database for `wodp db copy`, which refuses a table holding rows; recorded in the home's log,
    the entry is carried over by the copy, its chain whole. None otherwise (the settings' log)."""
    from access.audit import AuditLog
    from server.audit import ANCHOR_FILE

    path = settings.home / "audit.sqlite"
    if not settings.database.url or not path.exists():
        return None
    shared = database.open_database(settings.database.url, "audit", auto_migrate=True)
    try:
        if shared.rows("SELECT COUNT(*) FROM audit_log")[0][0]:
            return None
    finally:
        shared.close()
    return AuditLog(database.open_database(None, "audit", path), anchor=settings.home / ANCHOR_FILE)


def _queue_schema(url: str, create: bool) -> bool:
    """Show (and on upgrade create) the harvest queue's tables in the shared database; True when present."""
    from harvesters.queue import ensure_schema, schema_present

    if create:
        created = ensure_schema(url)
        print(f"  queue: procrastinate's tables {'created' if created else 'present'}")
        return True
    present = schema_present(url)
    print(f"  queue: procrastinate's tables {'present' if present else 'none  BEHIND'}")
    return present


def _db_copy(settings, database) -> int:
    """Copy the embedded files' rows into the shared database (database.url), part by part."""
    if not settings.database.url:
        print("wodp db copy: set WODP_DATABASE__URL to the shared database to copy the embedded files into",
              file=sys.stderr)
        return 2
    total = 0
    for part in database.PARTS:  # the whole schema first (the search index's tables too)
        database.upgrade(database.engine_for(settings.database.url), f"{part}@head")
    for part, path in part_files(settings).items():
        if part not in database.PART_TABLES:
            print(f"  {part}: derived, rebuilt from the store at the next start")
            continue
        if not path.exists():
            print(f"  {part}: no {path.name}, nothing to copy")
            continue
        source = database.open_database(None, part, path)
        target = database.open_database(settings.database.url, part, auto_migrate=True)
        try:
            counts = database.copy_part(source, target)
        finally:
            source.close()
        total += sum(counts.values())
        print(f"  {part}: " + ", ".join(f"{table} {n}" for table, n in counts.items()))
    print(f"copied {total} rows")
    from server.audit import command_entry

    command_entry(settings, "db.copy", "database", {"database": database.masked(settings.database.url),
                                                    "rows": total})
    return 0


def cmd_account(args: argparse.Namespace) -> int:
    """Accounts, roles, passwords, tokens and push grants (server/cli_account.py)."""
    from server.cli_account import cmd_account as run

    return run(args, _settings(args))


def cmd_audit(args: argparse.Namespace) -> int:
    """Verify the audit log's chain and anchor (exit 1 naming the first bad entry), or export it."""
    from server import audit_cli

    settings = _settings(args)
    return audit_cli.verify_command(settings, args) if args.action == "verify" else audit_cli.export_command(
        settings, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wodp", description="Wuhan open government data platform",
                                     epilog="A command acts as the operating-system account that runs it (the owner of "
                                            "WODP_HOME: the instance's super-user); its audit entries name that user "
                                            "and the host. --as ACCOUNT asks the access policy as a staff account "
                                            "first (docs/access.md).")
    parser.add_argument("--as", dest="as_account", metavar="ACCOUNT",
                        help="act as this account (login or id): the access policy is asked first, and the audit "
                             "entries name it")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (("demo", cmd_demo, "build the demo catalogue into WODP_HOME and serve it"),
                             ("serve", cmd_serve, "serve the catalogue in WODP_HOME")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--host", help="address to listen on (default from settings: 127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (default from settings: 8000)")
        p.set_defaults(func=func)
    sub.choices["demo"].add_argument("--build-only", action="store_true", help="build, print totals, do not serve")
    sub.choices["serve"].add_argument("--gunicorn", action="store_true",
                                      help="serve with gunicorn worker processes (needs store.url; docs/scale-out.md)")
    sub.choices["serve"].add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    p = sub.add_parser("worker", help="take harvest tasks from the PostgreSQL queue (harvest.queue postgres)")
    p.add_argument("--concurrency", type=int, default=1, help="tasks run at once in this worker (default 1)")
    p.add_argument("--scheduler", action="store_true", help="also run the sources' schedules here (one worker)")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("load", help="publish the datasets of RDF files (.ttl .nt .nq .trig .rdf .jsonld); "
                                    "datasets with SHACL violations are held back (exit code 3)")
    p.add_argument("files", nargs="+")
    p.add_argument("--profile", default="wuhan", help="validation profile (default: wuhan)")
    p.set_defaults(func=cmd_load)
    p = sub.add_parser("validate", help="validate RDF or record files against a SHACL profile; "
                                        "exit 1 on violations")
    p.add_argument("files", nargs="+")
    p.add_argument("--mapping", help="mapping for record files (.csv .xlsx .json .xml), e.g. china-core")
    p.add_argument("--jurisdiction", help="administrative division code of the records' source, e.g. 340100 "
                   "(default: the mapping's; docs/sources.md)")
    p.add_argument("--profile", default="wuhan", help="profile: wuhan, wuhan-harvested, external, dcat-ap-3, geodcat-ap")
    p.add_argument("--engine", default="pyshacl", choices=["pyshacl", "pyrudof"])
    p.add_argument("--format", default="text", choices=["text", "json"])
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("harvest", help="run a harvest source (or --all) now and print the job reports")
    p.add_argument("source", nargs="?")
    p.add_argument("--all", action="store_true", help="run every enabled source")
    p.set_defaults(func=cmd_harvest)
    p = sub.add_parser("check-data", help="check the data files of datasets (or --all) for empty rows and columns, "
                                          "empty cells, duplicates, mixed types, formats, links and split series")
    p.add_argument("ids", nargs="*")
    p.add_argument("--all", action="store_true", help="check every published dataset")
    p.set_defaults(func=cmd_check_data)
    p = sub.add_parser("load-data", help="load the CSV/XLSX/JSON files of datasets (or --all) for the data API "
                                         "again, and name each file that cannot be loaded")
    p.add_argument("ids", nargs="*")
    p.add_argument("--all", action="store_true", help="load every published dataset's files")
    p.set_defaults(func=cmd_load_data)
    p = sub.add_parser("remove", help="remove datasets by identifier")
    p.add_argument("ids", nargs="+")
    p.set_defaults(func=cmd_remove)
    p = sub.add_parser("export", help="write the whole store as N-Quads or TriG")
    p.add_argument("--format", choices=["nquads", "trig"], default="nquads")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_export)
    from server.cli_account import add_parser as account_parser

    p = account_parser(sub)
    p.set_defaults(func=cmd_account)
    p = sub.add_parser("audit", help="the staff audit log: verify its hash chain, export it")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("verify", help="check every entry, the chain and the anchor; exit 1 on the first bad entry")
    a.add_argument("--file", help="verify a full JSON Lines export instead of the log")
    a = actions.add_parser("export", help="write entries as JSON Lines or CSV (UTF-8 with BOM, for Excel)")
    a.add_argument("--since", help="from this time (ISO 8601; UTC unless it says, e.g. 2026-12-01T08:00+08:00)")
    a.add_argument("--until", help="before this time (ISO 8601)")
    a.add_argument("--actor", help="only this account id's entries")
    a.add_argument("--action", dest="what", help="only this action (or a prefix ending with '.', e.g. dataset.)")
    a.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    a.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("db", help="the data layer (database.url or the SQLite files): current and upgrade its "
                                  "schema; copy the embedded files into the shared database")
    p.add_argument("action", choices=["current", "upgrade", "copy"])
    p.set_defaults(func=cmd_db)
    from server import manage_cli

    manage_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _identity(args):
            return args.func(args)
    except SettingsError as exc:
        print(f"wodp: settings: {exc}", file=sys.stderr)
        return 2
    except WodpError as exc:
        print(f"wodp: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
