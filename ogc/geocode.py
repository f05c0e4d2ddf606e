"""Geocode addresses: the offline gazetteer of Wuhan, Tianditu's geocoder, and a chain of both."""

from __future__ import annotations

import functools
import json
import logging
import re
import socket
import unicodedata
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Protocol, Sequence
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from core.errors import WodpError

log = logging.getLogger(__name__)

TIANDITU_API = "https://api.tianditu.gov.cn"
COARSE_LEVELS = frozenset({"district", "city"})
_PREFIXES = ("中华人民共和国", "中国", "湖北省", "湖北", "武汉市")


class GeocoderError(WodpError):
    """A geocoding service failed: unreachable, refused, or answered something unreadable."""

    status = 502
    code = "geocoder-error"


class GeocoderUnavailableError(GeocoderError):
    """The service could not be reached, timed out, or answered an HTTP error."""

    code = "geocoder-unavailable"


# how precise a placement is, by the level a geocoder answered (gazetteer kinds, Tianditu's 门址/道路 …)
PRECISION = {"exact": "exact", "门址": "exact", "兴趣点": "exact", "poi": "exact",
             "road": "street", "道路": "street", "交叉路口": "street", "street": "street",
             "area": "area", "functional-area": "area", "乡镇": "area", "村庄": "area", "地名": "area",
             "district": "district-centroid", "区县": "district-centroid", "city": "city-centroid"}


@dataclass(frozen=True)
class GeocodeResult:
    """Where an address was placed: CGCS2000 lon/lat, by which method, matching what, at what level.

    ``conflict`` says why the address must not be placed although a place was found (it names a district
    that does not hold the place, or holds two addresses); ``named_district`` is the district the address names.
    """

    lon: float
    lat: float
    method: str          # "gazetteer" or "tianditu"
    matched: str         # the name (or service keyword) that placed it
    level: str           # "district", "road", "area", "functional-area", "city", or the service's own level
    score: float | None = None
    named_district: str | None = None
    conflict: str | None = None

    @property
    def precision(self) -> str:
        """Return how precise the placement is: exact, street, area, district-centroid, city-centroid."""
        return PRECISION.get(self.level, "area")


class Geocoder(Protocol):
    """Turn an address into a CGCS2000 point, or None when the address is not known."""

    name: str

    def geocode(self, address: str) -> GeocodeResult | None:
        """Return the address's position, None when not found; raise GeocoderError when the service fails."""


def normalise_name(text: str) -> str:
    """Return an address reduced for matching: NFKC, no spaces or punctuation, lower case, no country/province/city prefix."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = re.sub(r"[\s,，。.、;；:：()（）\[\]【】\"'“”‘’·\-_/]+", "", text)
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix) and len(text) > len(prefix):
                text, changed = text[len(prefix):], True
    return text


@dataclass(frozen=True)
class _Entry:
    name: str
    key: str          # normalised form matched against addresses
    level: str
    district: str | None
    lon: float
    lat: float
    districts: tuple[str, ...] = ()   # every district the place lies in (functional areas span several)


def _entries(data: dict[str, Any]) -> tuple[list[_Entry], list[_Entry]]:
    districts, places = [], []
    for item in data.get("districts", ()):
        for name in (item["name"], *item.get("aliases", ())):
            districts.append(_Entry(item["name"], normalise_name(name), "district", item["name"],
                                    float(item["lon"]), float(item["lat"]), (item["name"],)))
    for item in data.get("places", ()):
        within = tuple(item.get("districts") or ([item["district"]] if item.get("district") else []))
        for name in (item["name"], *item.get("aliases", ())):
            places.append(_Entry(item["name"], normalise_name(name), item.get("kind", "area"),
                                 item.get("district"), float(item["lon"]), float(item["lat"]), within))
    return districts, places


# separators of two addresses in one cell ("江汉区解放大道1号；武昌区中南路2号", "… / …", "…、…")
_SPACES = re.compile(r"[^\S\n]+")
_SEPARATORS = re.compile(r"[;；|｜/／\n]|、|\s+(?:和|及|或)\s+")


def load_gazetteer_data() -> dict[str, Any]:
    """Read the gazetteer the project ships (ogc/gazetteer.json)."""
    return json.loads(resources.files("ogc").joinpath("gazetteer.json").read_text(encoding="utf-8"))


class GazetteerGeocoder:
    """Place addresses offline on Wuhan's districts and major roads and areas (longest name match)."""

    name = "gazetteer"

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data if data is not None else load_gazetteer_data()
        self._districts, self._places = _entries(data)
        self._districts.sort(key=lambda e: len(e.key), reverse=True)
        city = data.get("city")
        self._city = _Entry(city["name"], normalise_name(city["name"]), "city", None,
                            float(city["lon"]), float(city["lat"])) if city else None

    def geocode(self, address: str) -> GeocodeResult | None:
        """Return the longest road/area named in the address (in its named district), else the district.

        An address naming two districts or holding two addresses, or whose named district does not hold the
        place found, comes back with a ``conflict`` (to be reported, never placed).
        """
        text = normalise_name(address)
        if not text:
            return None
        spaced = _SPACES.sub(" ", unicodedata.normalize("NFKC", str(address)))  # one space: linear split
        parts = [p for p in _SEPARATORS.split(spaced) if normalise_name(p)]
        if len(parts) > 1:
            found = [self._one(normalise_name(p)) for p in parts]
            placed = {(r.lon, r.lat) for r in found if r is not None}
            if len(placed) > 1:
                first = next(r for r in found if r is not None)
                return replace(first, conflict=f"holds {len(parts)} addresses ({' | '.join(parts)[:80]}); "
                                               "not guessed which one")
        return self._one(text)

    def _one(self, text: str) -> GeocodeResult | None:
        found = [e for e in self._places if e.key and e.key in text]
        found = [e for e in found if not any(len(f.key) > len(e.key) and e.key in f.key for f in found)]
        rest = text  # the address without the names matched, to find the district it names ("江汉路" is no "江汉")
        for entry in sorted(found, key=lambda e: -len(e.key)):
            rest = rest.replace(entry.key, "", 1)
        full = {e.name for e in self._districts if e.key.endswith("区") and e.key in rest}
        district = next((e for e in self._districts if e.key in rest and e.key.endswith("区")), None) \
            or next((e for e in self._districts if e.key in rest), None)
        named = district.name if district else None
        if len(full) > 1:
            first = found[0] if found else district
            return self._result(first, named, conflict=f"names {len(full)} districts ({'、'.join(sorted(full))})")
        places = [e for e in found if e.level != "functional-area"]
        areas = [e for e in found if e.level == "functional-area"]
        if places:
            return self._place(places, district)
        if areas:
            return self._area(max(areas, key=lambda e: len(e.key)), district)
        if district:
            return self._result(district, named)
        if self._city and text in {self._city.key, "武汉"}:
            return GeocodeResult(self._city.lon, self._city.lat, self.name, self._city.name, "city")
        return None

    def _result(self, entry: _Entry, named: str | None, label: str | None = None,
                conflict: str | None = None) -> GeocodeResult:
        return GeocodeResult(entry.lon, entry.lat, self.name, label or entry.name, entry.level,
                             named_district=named, conflict=conflict)

    def _place(self, places: list[_Entry], district: _Entry | None) -> GeocodeResult:
        """Place on the longest road or place named, in the named district; report a contradiction or a guess."""
        longest = max(len(e.key) for e in places)
        group = [e for e in places if len(e.key) == longest]
        named = district.name if district else None
        inside = [e for e in group if named is None or named in e.districts]
        if not inside:
            where = "、".join(sorted({d for e in group for d in e.districts})) or "?"
            return self._result(group[0], named, conflict=f"names {named}, but {group[0].name} lies in {where}")
        spans = sorted({d for e in inside for d in e.districts})
        if named is None and len(spans) > 1:
            return self._result(inside[0], None, conflict=f"{inside[0].name} runs through {'、'.join(spans)} "
                                                          "and the address names none of them")
        return self._result(inside[0], named, _label(inside[0], district))

    def _area(self, area: _Entry, district: _Entry | None) -> GeocodeResult:
        """Place on a functional area: its centre, or the named district's centre when that is another district."""
        named = district.name if district else None
        if named and named not in area.districts:
            return self._result(area, named, conflict=f"names {named}, but {area.name} lies in "
                                                      f"{'、'.join(area.districts)}")
        if named and named != area.district:  # 光谷 in 江夏区: the area's centre is in 洪山区
            own = next(e for e in self._districts if e.name == named)
            return self._result(own, named, f"{named}（{area.name}）")
        return self._result(area, named)

    def named_district(self, address: str) -> str | None:
        """Return the administrative district an address names in full ("江汉区"), or None."""
        text = normalise_name(address)
        return next((e.name for e in self._districts if e.key.endswith("区") and e.key in text), None)


def _label(entry: _Entry, district: _Entry | None) -> str:
    if entry.level == "functional-area":
        return entry.name
    if entry.district and (district is None or district.name == entry.district):
        return f"{entry.district}{entry.name}"
    return entry.name


class TiandituGeocoder:
    """Ask Tianditu's geocoder (GET /geocoder?ds={"keyWord": …}&tk=KEY); its answers are CGCS2000.

    urllib rather than httpx: httpx logs every request URL at INFO, and the URL carries the key.
    """

    name = "tianditu"

    def __init__(self, key: str, *, base_url: str = TIANDITU_API, timeout_s: float = 5.0,
                 city_prefix: str = "武汉市") -> None:
        if not key:
            raise ValueError("a Tianditu key is required")
        self._key = key
        self._base = base_url.rstrip("/")
        self._timeout = timeout_s
        self._prefix = city_prefix

    def __repr__(self) -> str:
        return f"TiandituGeocoder(base_url={self._base!r}, key=***)"

    def keyword(self, address: str) -> str:
        """Return the keyword sent for an address (with the city prefix unless it names one)."""
        address = unicodedata.normalize("NFKC", address).strip()
        if address and self._prefix and "武汉" not in address and "湖北" not in address:
            return self._prefix + address
        return address

    def geocode(self, address: str) -> GeocodeResult | None:
        """Return Tianditu's position for the address, None on its "no result" answer (status 101)."""
        keyword = self.keyword(address)
        if not keyword:
            return None
        query = urlencode({"ds": json.dumps({"keyWord": keyword}, ensure_ascii=False), "tk": self._key})
        request = Request(f"{self._base}/geocoder?{query}", headers={"User-Agent": "wodp-spatialization"})
        try:
            with urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (http/https base from settings)
                status, body = response.status, response.read(1_000_000)
        except HTTPError as exc:
            status, body = exc.code, exc.read(100_000)
        except (TimeoutError, socket.timeout):
            raise GeocoderUnavailableError("Tianditu geocoder timed out") from None
        except (URLError, OSError) as exc:
            raise GeocoderUnavailableError(f"Tianditu geocoder unreachable ({exc.__class__.__name__})") from None
        if status != 200:
            raise GeocoderUnavailableError(f"Tianditu geocoder answered HTTP {status}{_service_message(body)}")
        return self._result(body, keyword)

    def _result(self, raw: bytes, keyword: str) -> GeocodeResult | None:
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise GeocoderError("Tianditu geocoder answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise GeocoderError("Tianditu geocoder answered an unexpected document")
        status = str(body.get("status", ""))
        if status == "101":
            return None
        if status != "0":
            raise GeocoderError(f"Tianditu geocoder status {status or '?'}: {str(body.get('msg', ''))[:200]}")
        location = body.get("location") or {}
        try:
            lon, lat = float(location["lon"]), float(location["lat"])
        except (KeyError, TypeError, ValueError):
            raise GeocoderError("Tianditu geocoder answered status 0 without a location") from None
        score = location.get("score")
        return GeocodeResult(lon, lat, self.name, str(location.get("keyWord") or keyword),
                             str(location.get("level") or ""), float(score) if score is not None else None)


def _service_message(raw: bytes) -> str:
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError:
        return ""
    msg = body.get("msg") if isinstance(body, dict) else None
    return f": {str(msg)[:200]}" if msg else ""


class ChainGeocoder:
    """Try geocoders in order; keep a coarse (district, city) answer only when no later one does better.

    A service that failed as unavailable is skipped for the rest of the run (no timeout per row).
    """

    name = "chain"

    def __init__(self, geocoders: Sequence[Geocoder], coarse_levels: frozenset[str] = COARSE_LEVELS) -> None:
        self.geocoders = list(geocoders)
        self.coarse_levels = coarse_levels
        self._down: set[int] = set()

    def geocode(self, address: str) -> GeocodeResult | None:
        """Return the first precise result, else the first coarse one; raise the last error when none placed it."""
        error: GeocoderError | None = None
        coarse: GeocodeResult | None = None
        for index, geocoder in enumerate(self.geocoders):
            if index in self._down:
                continue
            try:
                result = geocoder.geocode(address)
            except GeocoderUnavailableError as exc:
                log.warning("geocoder %s unavailable, skipped for the rest of this run: %s", geocoder.name, exc.message)
                self._down.add(index)
                error = exc
                continue
            except GeocoderError as exc:
                error = exc
                continue
            if result is not None and (result.conflict or result.level not in self.coarse_levels):
                return result
            coarse = coarse or result
        if coarse is not None:
            return coarse
        if error is not None:
            raise error
        return None


def make_geocoder(tianditu_key: str | None = None, **tianditu_options: Any) -> Geocoder:
    """Return the gazetteer, followed by Tianditu when a key is set (the key from settings)."""
    gazetteer = GazetteerGeocoder()
    if not tianditu_key:
        return gazetteer
    return ChainGeocoder([gazetteer, TiandituGeocoder(tianditu_key, **tianditu_options)])


PRECISIONS = ("exact", "street", "area", "district-centroid")  # what a layer may hold


def place_address(address: str, geocoder: Geocoder | None, districts=None
                  ) -> tuple[tuple[float, float, str, str] | None, str]:
    """Return ((lon, lat, method, precision), "") for an address, or (None, why it stays unresolved).

    Unresolved, never guessed: no geocoder, not found, a service failure, a conflict the geocoder found (two
    addresses, a contradicting district, an ambiguous road), only the city, or — when named district polygons
    (``districts.part_of(lon, lat)``) are given — a point outside the district the address names.
    """
    if not address:
        return None, "no coordinates and no address"
    if geocoder is None:
        return None, f"address {address[:60]!r} needs a geocoder"
    try:
        result = geocoder.geocode(address)
    except GeocoderError as exc:
        return None, f"address {address[:60]!r}: {exc.message}"
    if result is None:
        return None, f"address {address[:60]!r} not found"
    if result.conflict:
        return None, f"address {address[:60]!r} {result.conflict}"
    if result.precision not in PRECISIONS:
        return None, f"address {address[:60]!r} names only the city"
    named = result.named_district or _named_district(geocoder, address)
    held_by = districts.part_of(result.lon, result.lat) if districts is not None and named else None
    if held_by and held_by != named:
        return None, f"address {address[:60]!r} names {named}, but {result.matched} was found in {held_by}"
    return (result.lon, result.lat, result.method, result.precision), ""


def _named_district(geocoder: Geocoder, address: str) -> str | None:
    """Return the district an address names, read by the gazetteer whatever geocoder placed it."""
    finder = getattr(geocoder, "named_district", None) or _gazetteer().named_district
    return finder(address)


@functools.lru_cache(maxsize=1)
def _gazetteer() -> GazetteerGeocoder:
    return GazetteerGeocoder()
