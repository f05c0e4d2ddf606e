"""Load typed settings from default.yml, the WODP_CONFIG overlay and WODP_* variables."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator


class SettingsError(Exception):
    """Settings could not be read or are invalid; the message names the key or file."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Section):
    base_uri: str = "http://127.0.0.1:8000"
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    publisher: str
    proxies: int = Field(0, ge=0, le=5)
    # the portal footer's filing lines (server/portal/templates/portal_base.html); an empty value is not shown
    footer_sponsor_zh: str = ""
    footer_sponsor_en: str = ""
    footer_organizer_zh: str = ""
    footer_organizer_en: str = ""
    footer_site_code: str = ""
    footer_icp: str = ""
    footer_police: str = ""
    footer_police_code: str = ""
    footer_contact: str = ""


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    threads: int = Field(16, ge=1, le=256)
    max_request_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    processes: int = Field(1, ge=1, le=64)
    connection_limit: int = Field(1000, ge=10, le=100_000)
    header_timeout_s: float = Field(20.0, gt=0)
    body_timeout_s: float = Field(120.0, gt=0)
    idle_timeout_s: float = Field(60.0, gt=0)
    cache_bytes: int = Field(64 * 1024 * 1024, ge=0)


class StoreSettings(_Section):
    backend: str = "oxigraph"
    path: str = "store"
    # a remote SPARQL 1.1 store (issue 11): when url is set, it is used instead of the embedded one
    url: str | None = Field(None, pattern=r"^https?://")
    update_url: str | None = None
    gsp_url: str | None = None
    timeout_s: float = Field(30.0, gt=0)
    engine: Literal["auto", "oxigraph", "virtuoso", "generic"] = "auto"


class DatabaseSettings(_Section):
    """The data layer beside the triple store (core/database.py): embedded SQLite files or one PostgreSQL."""

    url: str | None = Field(None, pattern=r"^postgres(ql)?(\+psycopg)?://", repr=False,
                            json_schema_extra={"secret": True})
    auto_migrate: bool = False


class SparqlSettings(_Section):
    timeout_s: float = Field(10.0, gt=0)
    max_results: int = Field(100_000, ge=1)
    max_result_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_query_chars: int = Field(20_000, ge=100)
    workers: int = Field(4, ge=1, le=32)
    max_workers: int = Field(8, ge=1, le=64)
    worker_nice: int = Field(10, ge=0, le=19)
    queue_timeout_s: float = Field(5.0, gt=0)
    # hardening (issue 10): fairness between clients, priority of slow queries, memory, nesting
    max_workers_per_client: int = Field(2, ge=1, le=64)
    client_queue: int = Field(2, ge=0, le=64)
    client_wait_s: float = Field(2.0, ge=0)
    slow_query_ms: int = Field(300, ge=0)
    slow_query_nice: int = Field(19, ge=0, le=19)
    worker_memory_mb: int = Field(1024, ge=0)
    max_nesting: int = Field(64, ge=8, le=4096)

    @model_validator(mode="after")
    def _worker_memory_is_enough(self) -> "SparqlSettings":
        if 0 < self.worker_memory_mb < 384:
            raise ValueError(f"sparql.worker_memory_mb is {self.worker_memory_mb}: a worker needs at least 384 MB "
                             "of address space to open the store (0 means no limit)")
        return self


class CatalogSettings(_Section):
    page_size: int = Field(100, ge=1)
    max_page_size: int = Field(1000, ge=1)


class SearchSettings(_Section):
    path: str = "search.sqlite"
    page_size: int = Field(20, ge=1, le=200)
    rank_candidates: int = Field(10_000, ge=1)
    synonyms: str = ""


class DemoSettings(_Section):
    seed: int = 20261129
    datasets: int = Field(1700, ge=1)
    spatial: int = Field(200, ge=0)


class LoggingSettings(_Section):
    level: str = "INFO"
    max_line_chars: int = Field(2000, ge=200)


class TiandituSettings(_Section):
    key: str | None = Field(None, json_schema_extra={"secret": True})
    layers: Literal["vec", "img"] = "vec"  # vec+cva (vector) or img+cia (imagery)
    matrix_set: Literal["c", "w"] = "c"  # c: geographic CGCS2000 tiles, w: web Mercator
    url: str = "https://t{s}.tianditu.gov.cn"
    subdomains: str = "01234567"
    geocoder_url: str = "https://api.tianditu.gov.cn/geocoder"


class FeaturesSettings(_Section):
    backend: Literal["sqlite", "postgis"] = "sqlite"
    path: str = "features.sqlite"
    dsn: str | None = Field(None, json_schema_extra={"secret": True})
    default_limit: int = Field(10, ge=1, le=10000)
    max_limit: int = Field(10000, ge=1, le=100000)


class CswSettings(_Section):
    enabled: bool = True
    path: str = "csw.sqlite"
    python: str | None = None
    timeout_s: float = Field(30.0, gt=0)
    max_records: int = Field(100, ge=1, le=10000)


class SpatialSettings(_Section):
    boundary_file: str | None = None
    boundary_crs: str = "CGCS2000"
    source_crs: str | None = None
    data_dir: str | None = None
    geocoder: Literal["gazetteer", "tianditu"] = "gazetteer"
    max_rows: int = Field(200_000, ge=1)
    max_bytes: int = Field(100 * 1024 * 1024, ge=1024)


class HarvestSource(_Section):
    """One harvest source: where it is, how it is read and mapped, when it runs."""

    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    kind: str
    url: str | None = None
    path: str | None = None
    mapping: str | None = None
    # administrative division code (GB/T 2260) of the source's government: 420100 is Wuhan, whose
    # departments alone are matched by name; any other (or none) makes publishers organisations of their own
    jurisdiction: str | None = Field(None, pattern=r"^\d{6}$")
    # the source's own publisher names and theme words (theme word → our theme code, e.g. {政府机构: T22})
    publishers: list[str] = Field(default_factory=list)
    themes: dict[str, str] = Field(default_factory=dict)
    profile: str | None = None
    schedule: str | None = None
    channel: str | None = None
    priority: int | None = None
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class HarvestSettings(_Section):
    db_path: str = "harvest.sqlite"
    timeout_s: float = Field(30.0, gt=0)
    page_size: int = Field(100, ge=1, le=10000)
    batch_size: int = Field(1000, ge=1, le=5000)
    max_pages: int = Field(1000, ge=1)
    max_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    stale_after_s: float = Field(120.0, gt=0)
    scheduler: bool = False
    tick_s: float = Field(30.0, gt=0)
    retry_limit: int = Field(3, ge=0, le=100)
    retry_backoff_s: float = Field(60.0, ge=0)
    queue: Literal["inline", "postgres"] = "inline"
    queue_heartbeat_s: float = Field(10.0, gt=0)
    queue_stalled_after_s: float = Field(30.0, gt=0)
    precedence: list[str] = Field(default_factory=lambda: ["push", "cloud", "file"])
    cloud_token: str | None = Field(None, json_schema_extra={"secret": True})
    sources: list[HarvestSource] = Field(default_factory=list)


class StorageSettings(_Section):
    """Disk full and other I/O errors (docs/architecture.md): a floor of free space and a reserve file."""

    min_free_mb: int = Field(64, ge=0)  # publications are refused (507) below this much free space
    reserve_mb: int = Field(32, ge=0)  # kept in WODP_HOME/.disk-reserve, released to finish or undo a write
    recheck_s: float = Field(2.0, gt=0)  # while degraded, how often requests look whether space is back


class PushSettings(_Section):
    max_bytes: int = Field(1024 * 1024, ge=1024)
    max_datasets: int = Field(100, ge=1, le=10000)
    default_mapping: str = "china-core"


class SandboxSettings(_Section):
    """Worker processes for heavy work: upload validation, push parsing, harvest pages, spatialization."""

    enabled: bool = True
    memory_mb: int = Field(1500, ge=256, le=65536)
    timeout_s: float = Field(60.0, gt=0)
    max_tasks: int = Field(2, ge=1, le=64)
    workers: int = Field(2, ge=0, le=64)
    max_queue: int = Field(4, ge=0, le=1000)
    queue_timeout_s: float = Field(10.0, gt=0)
    nice: int = Field(10, ge=0, le=19)


class InputLimits(_Section):
    """Bounds every reader of outside input checks before or while it parses (docs/settings.md, input_limits)."""

    xml_max_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    xml_max_depth: int = Field(64, ge=8, le=10_000)
    json_max_depth: int = Field(64, ge=8, le=900)
    json_max_number_digits: int = Field(100, ge=20, le=4000)
    xlsx_max_uncompressed_bytes: int = Field(100 * 1024 * 1024, ge=1024 * 1024)
    xlsx_max_ratio: int = Field(100, ge=10)
    xlsx_max_parts: int = Field(1000, ge=10)
    xlsx_max_sheets: int = Field(100, ge=1)
    xlsx_max_rows: int = Field(1_000_000, ge=1)
    xlsx_max_cells: int = Field(2_000_000, ge=1)
    xlsx_max_shared_strings: int = Field(500_000, ge=1)
    xlsx_max_cell_chars: int = Field(32_767, ge=255)
    csv_max_rows: int = Field(1_000_000, ge=1)
    csv_max_field_chars: int = Field(1_000_000, ge=1024)


class GateSettings(_Section):
    """Text the publication gate refuses before validation (publish/screen.py)."""

    max_literal_chars: int = Field(20_000, ge=100)
    literal_limits: dict[str, int] = Field(default_factory=dict)
    max_iri_chars: int = Field(8_000, ge=100)


class ManageSettings(_Section):
    """The management center's rules: freshness re-measure, work-order deadlines and reminders (manage/)."""

    freshness_job: bool = True
    freshness_hour: int = Field(2, ge=0, le=23)
    freshness_tick_s: float = Field(300.0, gt=0)
    freshness_keep_days: int = Field(400, ge=0)
    deadlines: dict[str, Annotated[int, Field(ge=0, le=365)]] = Field(
        default_factory=lambda: {"default": 10, "overdue-update": 10, "broken-link": 5})
    reminder_working_days: int = Field(2, ge=0, le=60)
    holidays_file: str | None = None
    calendar_warning_days: int = Field(30, ge=0, le=400)


class ServicesSettings(_Section):
    """The public's services (services/): usage counts, ratings and comments."""

    usage_counting: bool = True
    usage_flush_s: float = Field(5.0, gt=0, le=3600)
    comment_max_chars: int = Field(2000, ge=1, le=20000)


def _rate_limit(value: str) -> str:
    """Check a rate limit string of Flask-Limiter ("60/minute", "10/second;300/hour")."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a rate limit: write e.g. '60/minute' or '10/second;300/hour'") from None
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class RateLimitSettings(_Section):
    enabled: bool = True
    storage_uri: str | None = Field(None, json_schema_extra={"secret": True})
    strategy: Literal["fixed-window", "moving-window", "sliding-window-counter"] = "moving-window"
    token: RateLimit = "120/minute"
    token_failures: RateLimit = "10/minute"
    validation: RateLimit = "30/minute"
    push: RateLimit = "60/minute"
    sparql: RateLimit = "600/minute"
    sign_in: RateLimit = "10/minute"


class AccessSettings(_Section):
    """Accounts, sign-in and sessions (access/, server/auth.py; docs/access.md)."""

    password_min_length: int = Field(12, ge=8, le=128)
    password_classes: int = Field(3, ge=1, le=4)
    lockout_failures: int = Field(5, ge=1, le=100)
    lockout_minutes: float = Field(15.0, gt=0)
    session_hours: float = Field(8.0, gt=0, le=168)
    session_idle_minutes: float = Field(30.0, gt=0)
    secret_key: str | None = Field(None, min_length=32, repr=False, json_schema_extra={"secret": True})


class OidcSettings(_Section):
    """Sign-in through the government's unified identity platform by OpenID Connect (server/oidc.py)."""

    issuer: str | None = Field(None, pattern=r"^https?://")
    client_id: str | None = None
    client_secret: str | None = Field(None, repr=False, json_schema_extra={"secret": True})
    scopes: str = "openid profile"
    label_zh: str = "统一身份认证平台"
    label_en: str = "the government's unified identity platform"
    login_claim: str = "preferred_username"
    name_claim: str = "name"
    role_claim: str = "roles"
    roles: dict[str, Literal["admin", "reviewer", "publisher", "auditor", "public"]] = Field(default_factory=dict)
    department_claim: str = "department"
    default_role: Literal["admin", "reviewer", "publisher", "auditor", "public"] | None = None
    timeout_s: float = Field(15.0, gt=0)


def _networks(value: list[str]) -> list[str]:
    """Check each entry is an address or network (10.0.0.5, 10.0.0.0/8, ::1)."""
    import ipaddress

    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or network: write e.g. 127.0.0.1, 10.0.0.0/8 or ::1") \
                from None
    return value


class MetricsSettings(_Section):
    """Prometheus metrics at GET /metrics (docs/deployment.md, "Metrics")."""

    enabled: bool = True
    allow: Annotated[list[str], AfterValidator(_networks)] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"])


class TrendSettings(_Section):
    """Harvest trends and alerts of the admin console (manage/trends.py)."""

    days: int = Field(30, ge=1, le=3660)
    max_days: int = Field(366, ge=1, le=3660)
    utc_offset_h: float = Field(8, ge=-14, le=14)
    failing_runs: int = Field(3, ge=1, le=100)
    held_share: float = Field(0.5, gt=0, le=1)
    max_run_s: float = Field(3600.0, gt=0)
    missed_intervals: float = Field(3, gt=0)
    not_run_days: float = Field(14, gt=0)


class ReviewSettings(_Section):
    """The workbench's review step (数据报送 → 审核; docs/workbench.md)."""

    mode: Literal["none", "new", "every-change"] = "new"
    overdue_days: int = Field(5, ge=1)
    files_dir: str = "submissions"
    max_file_bytes: int = Field(50 * 1024 * 1024, ge=1024)
class DataChecksSettings(_Section):
    """Data-quality checks on the data itself (tabular/): thresholds and bounds."""

    enabled: bool = True
    at_publication: bool = True
    daily: bool = True
    max_empty_share: float = Field(0.2, ge=0, le=1)
    series_min_size: int = Field(3, ge=2, le=1000)
    max_bytes: int = Field(100 * 1024 * 1024, ge=1024)
    max_rows: int = Field(1_000_000, ge=1)
    duckdb_memory_mb: int = Field(256, ge=64, le=65536)


class ApplicationSettings(_Section):
    """有条件开放 applications: review deadlines, grants, use reports (services/applications.py)."""

    department_days: int = Field(5, ge=1, le=60)
    bureau_days: int = Field(5, ge=1, le=60)
    max_grant_days: int = Field(365, ge=1, le=3650)
    report_every_days: int = Field(30, ge=1, le=365)
    commitment_version: str = Field("2026-1", min_length=1, max_length=40)
    commitment_zh: str = ("本人/本单位承诺：仅在申请的用途、场景和期限内使用所获数据；不向第三方提供；采取必要的安全保护措施；"
                          "不试图识别个人身份；期满或授权撤销后删除数据；按期报告使用情况。")
    commitment_en: str = ("I undertake to use the data only for the stated purpose, scenario and period; not to pass it "
                          "to third parties; to protect it; not to re-identify persons; to delete it when the grant "
                          "ends or is revoked; and to report its use on time.")


class ShowcaseSettings(_Section):
    """The showcase (应用成果) of apps, analyses and visualisations (services/showcase.py)."""

    image_max_bytes: int = Field(512 * 1024, ge=1024, le=10 * 1024 * 1024)
    max_datasets: int = Field(20, ge=1, le=200)
    page_size: int = Field(24, ge=1, le=200)


class QuotaLimit(_Section):
    """Requests one API key may make per minute and per day (0: no limit)."""

    per_minute: int = Field(60, ge=0)
    per_day: int = Field(10000, ge=0)


class QuotaSettings(_Section):
    """API-key quotas per open type (services/quotas.py), counted on the data layer across processes."""

    enabled: bool = True
    unconditional: QuotaLimit = Field(default_factory=lambda: QuotaLimit(per_minute=120, per_day=50000))
    conditional: QuotaLimit = Field(default_factory=QuotaLimit)
    keep_days: int = Field(400, ge=1)


class RequestSettings(_Section):
    """Error reports (纠错) and data requests (数据需求): the departments' reply deadlines (services/requests.py)."""

    error_reply_days: int = Field(5, ge=1, le=60)
    data_reply_days: int = Field(10, ge=1, le=60)
    max_chars: int = Field(2000, ge=100, le=20000)


class DataApiSettings(_Section):
    """The data API (/api/data/{id}): tabular files loaded as Parquet files and queried by DuckDB (tabular/)."""

    path: str = "datastore"
    load_at_publication: bool = True
    max_bytes: int = Field(100 * 1024 * 1024, ge=1024)
    max_rows: int = Field(2_000_000, ge=1)
    memory_mb: int = Field(256, ge=64, le=65536)
    threads: int = Field(2, ge=1, le=64)
    cache_mb: int = Field(512, ge=0, le=1048576)


class Settings(_Section):
    """All settings of one process, plus the data directory they were loaded for."""

    home: Path
    site: SiteSettings
    server: ServerSettings
    store: StoreSettings
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sparql: SparqlSettings
    catalog: CatalogSettings
    search: SearchSettings
    demo: DemoSettings
    logging: LoggingSettings
    push: PushSettings
    tianditu: TiandituSettings
    harvest: HarvestSettings
    features: FeaturesSettings
    csw: CswSettings
    spatial: SpatialSettings
    storage: StorageSettings = Field(default_factory=StorageSettings)
    sandbox: SandboxSettings
    input_limits: InputLimits = InputLimits()
    gate: GateSettings
    rate_limits: RateLimitSettings
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    manage: ManageSettings = Field(default_factory=ManageSettings)
    trends: TrendSettings = Field(default_factory=TrendSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    data_checks: DataChecksSettings = Field(default_factory=DataChecksSettings)
    services: ServicesSettings = Field(default_factory=ServicesSettings)
    applications: ApplicationSettings = Field(default_factory=ApplicationSettings)
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    requests: RequestSettings = Field(default_factory=RequestSettings)
    showcase: ShowcaseSettings = Field(default_factory=ShowcaseSettings)
    data_api: DataApiSettings = Field(default_factory=DataApiSettings)

    def path(self, relative: str) -> Path:
        """Resolve a path setting against the data directory."""
        p = Path(relative)
        return p if p.is_absolute() else self.home / p

    @property
    def base_uri(self) -> str:
        return self.site.base_uri.rstrip("/")


SECTIONS: dict[str, type[_Section]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Settings.model_fields.items()
    if name != "home"
}


def secret_keys() -> set[tuple[str, str]]:
    """Return (section, key) of every setting marked secret."""
    out = set()
    for section, model in SECTIONS.items():
        for key, field in model.model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and extra.get("secret"):
                out.add((section, key))
    return out


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{origin}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{origin}: expected a mapping of sections at the top level")
    return data


def _merge(base: dict[str, Any], overlay: Mapping[str, Any], origin: str) -> None:
    secrets = secret_keys()
    for section, values in overlay.items():
        if section not in SECTIONS:
            raise SettingsError(
                f"{origin}: unknown section {section!r} (known: {', '.join(sorted(SECTIONS))})"
            )
        if not isinstance(values, dict):
            raise SettingsError(f"{origin}: section {section!r} must be a mapping")
        known = SECTIONS[section].model_fields
        for key, value in values.items():
            if key not in known:
                raise SettingsError(
                    f"{origin}: unknown key {section}.{key} (known: {', '.join(sorted(known))})"
                )
            if (section, key) in secrets and value is not None and origin != "environment":
                raise SettingsError(
                    f"{origin}: {section}.{key} is a secret; set WODP_{section.upper()}__{key.upper()} "
                    "in the environment instead of writing it in a file"
                )
            base.setdefault(section, {})[key] = value


def _env_overlay(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in environ.items():
        if not name.startswith("WODP_") or name in ("WODP_HOME", "WODP_CONFIG", "WODP_FUZZ_EXAMPLES"):
            continue
        rest = name[len("WODP_"):]
        if "__" not in rest:
            raise SettingsError(
                f"environment: {name} is not a setting; use WODP_<SECTION>__<KEY>, e.g. WODP_SERVER__PORT"
            )
        section, key = rest.lower().split("__", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            value = raw
        out.setdefault(section, {})[key] = value
    return out


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Settings:
    """Load settings once at an entry point; nothing else reads the environment."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    default_text = resources.files("config").joinpath("default.yml").read_text("utf-8")
    _merge(data, _read_yaml(default_text, "config/default.yml"), "config/default.yml")
    overlay_file = env.get("WODP_CONFIG")
    if overlay_file:
        path = Path(overlay_file)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise SettingsError(f"WODP_CONFIG={overlay_file}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise SettingsError(f"WODP_CONFIG={overlay_file}: not UTF-8 text") from exc
        _merge(data, _read_yaml(text, str(path)), str(path))
    _merge(data, _env_overlay(env), "environment")
    if overrides:
        _merge(data, {k: dict(v) for k, v in overrides.items()}, "overrides")
    data["home"] = Path(home or env.get("WODP_HOME") or "var").absolute()
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
