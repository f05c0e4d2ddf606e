"""Place fields the mapping and the synonyms do not name: by a known name they end with, or by their values.

A portal's field name we have never seen is placed when
- its name ends with a field name we know (``数据集名称`` ends with ``名称``: title; ``数据提供方`` with
  ``提供方``: publisher), the longest such ending winning; or
- most of its values are words of one of our vocabularies (themes of ontology/themes.ttl and the value
  synonyms of vocabulary.yml; open types, update cycles, formats) or names of publishers (the source's
  own list, or our departments' names, which tell a field of bureau names — never who publishes): a field
  whose values are 无条件开放 and 有条件开放 is the open type, whatever it is called.
An inferred field fills a target only where no named field did, and each is reported (kind
``inferred-field``) with the number of records it was used in: nothing is placed without a word.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from mappings.departments import WUHAN, match_department, match_key
from mappings.model import SourceRecord
from mappings.paths import first_segment
from mappings.spec import Mapping, bare_name, synonyms
from mappings.targets import DEFAULT_SPLIT
from mappings.values import is_service, lookup, lookup_format, lookup_open_type, split_values

# target → how a value word is recognised
_VALUE_TESTS = {
    "open_type": lambda w: lookup_open_type(w) is not None,
    "update_cycle": lambda w: lookup("update_cycles", w) is not None,
    "theme": lambda w: _theme(w),
    "format": lambda w: lookup_format(w) is not None or is_service(w),
}
SHARE = 0.6          # share of a field's non-empty records whose words are all known, to place it by value


def infer_fields(records: list[SourceRecord], mapping: Mapping,
                 publishers: Sequence[str] = ()) -> dict[str, tuple[str, str]]:
    """Return field name → (target, how) for the fields of records that no name of ours places.

    ``publishers`` are the source's own publisher names: a field holding them is the publisher.
    """
    named = {first_segment(p) for spec in mapping.fields.values() for p in spec.paths}
    known = synonyms() if mapping.synonyms else {}
    values: dict[str, list] = {}
    for record in records:
        for name, value in record.fields.items():
            if name not in named and bare_name(name) not in known and value not in (None, "", [], {}):
                values.setdefault(name, []).append(value)
    out: dict[str, tuple[str, str]] = {}
    for name, found in values.items():
        by_name = _by_ending(bare_name(name), known) if mapping.synonyms else None
        if by_name:
            out[name] = (by_name[0], f"its name ends with {by_name[1]!r}")
            continue
        by_value = _by_values(found, {match_key(p) for p in publishers})
        if by_value:
            out[name] = by_value
    return out


def _by_ending(name: str, known: dict[str, str]) -> tuple[str, str] | None:
    """Return (target, ending) of the longest known field name (two characters or more) a name ends with.

    None when what comes before the ending holds a known name of another target (联系人名称: a contact's
    name, not a title).
    """
    endings = [k for k in known if len(k) >= 2 and name.endswith(k) and k != name]
    if not endings:
        return None
    ending = max(endings, key=len)
    head = name[:-len(ending)]
    if any(len(k) >= 2 and k in head and t != known[ending] for k, t in known.items()):
        return None
    return known[ending], ending


def _by_values(found: list, publishers: set[str]) -> tuple[str, str] | None:
    """Return (target, how) when most of a field's values are words of one of our vocabularies."""
    shares: Counter[str] = Counter()
    tests = {**_VALUE_TESTS, "publisher": lambda w: match_key(w) in publishers or
             match_department(w, WUHAN) is not None}
    for value in found:
        for target, test in tests.items():
            words = split_values(value, DEFAULT_SPLIT.get(target)) if target != "publisher" else \
                split_values(value, None)
            if words and all(test(w) for w in words):
                shares[target] += 1
    if not shares:
        return None
    target, count = shares.most_common(1)[0]
    if count / len(found) < SHARE:
        return None
    return target, f"{count} of its {len(found)} values are {target.replace('_', ' ')} words of ours"


def _theme(word: str) -> bool:
    """Tell whether a word is one of our themes (or its parts split on 、 and spaces all are)."""
    if lookup("themes", word):
        return True
    import re

    parts = [p for p in re.split(r"[、\s]+", word) if p]
    return len(parts) > 1 and all(lookup("themes", p) for p in parts)


