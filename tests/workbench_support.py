"""What the workbench and review tests share: a platform of their own, a draft's values, reading the pages."""

from __future__ import annotations

import re

BASE = "http://127.0.0.1:8000"
VALUES = {
    "resource_code": "420100-D017-08001", "title": "武汉市公共自行车站点 报送测试",
    "description": "全市公共自行车站点名称、位置和车位数。",
    "publisher": "https://data.wuhan.gov.cn/def/department/D017",
    "open_type": "https://data.wuhan.gov.cn/def/open-type/unconditional",
    "update_cycle": "https://data.wuhan.gov.cn/def/update-cycle/monthly", "issued": "2024-05-06",
    "format": ["csv"], "contact": "027-85123456 opendata@jtj.wuhan.gov.cn",
    "theme": ["https://data.wuhan.gov.cn/def/theme/T06"], "keyword": "自行车，交通", "modified": "2024-10-01",
}
CSV = "站点名称,经度,纬度,车位数\n汉口火车站,114.2556,30.6180,40\n武昌火车站,114.3169,30.5287,36\n".encode()


def open_platform(home, *, workers: bool = False, mode: str = "new"):
    """A platform over an empty catalogue (vocabulary installed), no rate limits, the review mode given."""
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    overrides = {"rate_limits": {"enabled": False}, "review": {"mode": mode}}
    if workers:
        overrides["sparql"] = {"timeout_s": 10.0}
    settings = load_settings({}, overrides=overrides, home=home)
    platform = Platform.open(settings, start_workers=workers)
    install(platform.store, settings)
    return platform


def form_data(values: dict, csrf: str | None = None) -> dict:
    """The form's fields as a browser posts them (a multi-select once per value)."""
    data = {k: v for k, v in values.items()}
    if csrf:
        data["csrf_token"] = csrf
    return data


def field_block(html: str, name: str) -> str:
    """Return the HTML of one field of the form (from its id to the next field)."""
    at = html.index(f'id="field-{name}"')
    start = html.rindex("<div", 0, at)
    following = html.find('class="wb-field', at)
    end = following if following != -1 else html.find("</form>", start)
    return html[start:end]


def submission_id(location: str) -> str:
    found = re.search(r"/admin/workbench/([0-9a-f]{12})", location)
    assert found, location
    return found.group(1)
