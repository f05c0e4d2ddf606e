"""Find datasets split into many: one department's titles that differ only by a period or a district.

"2023年1月武汉市空气质量", "2023年2月武汉市空气质量", … or "江岸区公共厕所", "江汉区公共厕所", … are one
dataset published in pieces: a user has to download each piece and join them. ``split_series`` reads the
catalogue's titles (dataset id, publisher, title), replaces each period (a day, month, quarter, half year,
year, written in digits or Chinese numerals) and each district of Wuhan (names passed in: ogc/gazetteer.json)
by a placeholder, and groups one publisher's titles by what is left. A group of at least ``min_size`` datasets,
each with its own period or district, is a series; every member gets a finding naming the others.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from tabular.checks import CheckRun, Finding, WARNING, MAX_LISTED

_CN = "[一二三四五六七八九十]"
_PERIODS = (  # (kind, pattern), tried in this order at each position
    ("day", r"(?:19|20)\d{2}年\d{1,2}月\d{1,2}日"),
    ("day", r"(?:19|20)\d{2}[-./]\d{1,2}[-./]\d{1,2}"),
    ("quarter", rf"(?:19|20)\d{{2}}年?(?:度)?(?:第?(?:[1-4]|[一二三四])季度|[Qq][1-4])"),
    ("half", r"(?:19|20)\d{2}年?(?:度)?[上下]半年"),
    ("month", rf"(?:19|20)\d{{2}}年(?:\d{{1,2}}|{_CN}{{1,2}})月份?"),
    ("month", r"(?:19|20)\d{2}[-./]\d{1,2}(?!\d)"),
    ("month", r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?!\d)"),
    ("year", r"(?:19|20)\d{2}年度?"),
    ("year", r"(?<!\d)(?:19|20)\d{2}(?!\d)"),
    ("quarter", r"第?(?:[1-4]|[一二三四])季度"),
    ("half", r"[上下]半年"),
    ("month", rf"(?<!\d)(?:\d{{1,2}}|{_CN}{{1,2}})月份?"),
)
_LABELS = {"day": ("日", "day"), "month": ("月", "month"), "quarter": ("季度", "quarter"),
           "half": ("半年", "half year"), "year": ("年", "year"), "district": ("区", "district")}


def _pattern(districts: Sequence[str]) -> re.Pattern:
    parts = [f"(?P<{kind}{i}>{p})" for i, (kind, p) in enumerate(_PERIODS)]
    names = sorted({d for d in districts if d}, key=len, reverse=True)
    if names:
        parts.insert(0, "(?P<district>" + "|".join(map(re.escape, names)) + ")")
    return re.compile("|".join(parts))


def skeleton(title: str, pattern: re.Pattern) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Return (the title with each period and district as ＊, the texts replaced, their kinds)."""
    texts, kinds = [], []

    def replace(found: re.Match) -> str:
        kind = re.sub(r"\d+$", "", found.lastgroup or "")
        texts.append(found.group())
        kinds.append(kind)
        return "＊"

    return pattern.sub(replace, title.strip()), tuple(texts), tuple(kinds)


def split_series(titles: Iterable[tuple[str, str | None, str]], districts: Sequence[str], *,
                 min_size: int = 3) -> dict[str, CheckRun]:
    """Return, per dataset id, its split-series CheckRun (value: the size of its series, 0 when in none).

    ``titles`` are (dataset id, publisher, title); titles of different publishers never form a series.
    """
    pattern = _pattern(districts)
    groups: dict[tuple[str, str], list[tuple[str, tuple[str, ...], tuple[str, ...]]]] = {}
    runs: dict[str, CheckRun] = {}
    for dataset_id, publisher, title in titles:
        runs[dataset_id] = CheckRun("split-series", 0)
        shape, texts, kinds = skeleton(title or "", pattern)
        if texts and shape.replace("＊", "").strip() and publisher:
            groups.setdefault((publisher, shape), []).append((dataset_id, texts, kinds))
    for (publisher, shape), members in groups.items():
        distinct = {texts for _, texts, _ in members}
        if len(members) < min_size or len(distinct) < min_size:
            continue
        places = range(len(members[0][1]))  # one skeleton: the same number of placeholders in each title
        by = sorted({members[0][2][i] for i in places if len({m[1][i] for m in members}) > 1})
        ids = sorted(m[0] for m in members)
        zh_by = "、".join(_LABELS[k][0] for k in by)
        en_by = ", ".join(_LABELS[k][1] for k in by)
        for dataset_id, texts, _ in members:
            detail = {"count": len(members), "series": shape, "by": by, "publisher": publisher,
                      "datasets": ids[:MAX_LISTED], "part": list(texts)}
            finding = Finding(dataset_id, None, "split-series", WARNING, detail,
                              f"同一部门按{zh_by}拆分发布了 {len(members)} 个数据集（{shape}），宜合并为一个数据集",
                              f"the same department publishes {len(members)} datasets split by {en_by} "
                              f"({shape}); they should be one dataset")
            runs[dataset_id] = CheckRun("split-series", len(members), (finding,))
    return runs
