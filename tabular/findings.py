"""Keep the data-quality checks' results per dataset (part ``quality_checks``) and give their measurements.

``QualityChecks.save(dataset, runs, scope)`` replaces what the checks named in ``scope`` found before for the
dataset (a file re-read replaces its file checks; a run over the catalogue's titles replaces split-series);
``findings_for(dataset)`` is what work orders (manage/workorders.py) and dashboards read; ``measurements``
gives one value per check for the dataset's DQV measurements (counts summed over its files, shares the
largest), only for the checks that ran.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy import text

from core.database import Database, as_database, in_lists
from tabular.checks import CHECKS, CheckRun, Finding

_SEVERITY = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class FileContent:
    """What identifies a data file's content when it was checked: its URL, the server's validators, sha256."""

    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None


class QualityChecks:
    """The checks' last values and findings, per dataset, on the data layer."""

    def __init__(self, where: "Path | Database") -> None:
        self.db = as_database(where, "quality_checks")
        self._lock = threading.Lock()

    def save(self, dataset_id: str, runs: Iterable[CheckRun], scope: Sequence[str] | None = None,
             distribution: str | None = None) -> None:
        """Replace, for one dataset, the results of the checks in ``scope`` (default: those in ``runs``).

        ``distribution`` narrows the replacement to that distribution's rows (a file read again); without it
        the dataset's rows of those checks go, whichever distribution they were of.
        """
        self.save_many([(dataset_id, list(runs), scope, distribution)])

    def save_many(self, batch: Iterable[tuple[str, Sequence[CheckRun], Sequence[str] | None, str | None]]) -> None:
        """Save several datasets' results (as ``save``) in one transaction: the rows of all of them go first,
        then the new ones, each kind of statement sent once for the batch (a dataset named twice: in turn)."""
        now, batch = time.time(), [(d, list(runs), scope, x) for d, runs, scope, x in batch]
        with self._lock, self.db.write() as conn:
            if len({d for d, *_ in batch}) < len(batch):
                for dataset_id, runs, scope, distribution in batch:
                    self._save(conn, [(dataset_id, runs, scope, distribution)], now)
            else:
                self._save(conn, batch, now)

    @staticmethod
    def _save(conn, batch: list[tuple[str, list[CheckRun], Sequence[str] | None, str | None]], now: float) -> None:
        gone: dict[bool, list[dict]] = {False: [], True: []}  # by whether one distribution's rows go
        for dataset_id, runs, scope, distribution in batch:
            checks = sorted(set(scope) if scope is not None else {r.check for r in runs})
            gone[distribution is not None] += [{"d": dataset_id, "c": c, "x": distribution or ""} for c in checks]
        for narrowed, params in gone.items():
            where = "dataset = :d AND check_name = :c" + (" AND distribution = :x" if narrowed else "")
            if params:
                conn.execute(text(f"DELETE FROM quality_check_runs WHERE {where}"), params)
                conn.execute(text(f"DELETE FROM quality_check_findings WHERE {where}"), params)
        values = [{"d": dataset_id, "x": r.distribution or "", "c": r.check, "v": float(r.value), "t": now}
                  for dataset_id, runs, _, _ in batch for r in runs]
        if values:
            conn.execute(text("INSERT INTO quality_check_runs (dataset, distribution, check_name, value, "
                              "checked_at) VALUES (:d, :x, :c, :v, :t)"), values)
        found = [{"d": f.dataset_id, "x": f.distribution or "", "c": f.check, "s": f.severity,
                  "j": json.dumps(f.detail, ensure_ascii=False, default=str), "zh": f.message_zh,
                  "en": f.message_en, "t": now} for _, runs, _, _ in batch for r in runs for f in r.findings]
        if found:
            conn.execute(text("INSERT INTO quality_check_findings (dataset, distribution, check_name, severity, "
                              "detail, message_zh, message_en, found_at) VALUES (:d, :x, :c, :s, :j, :zh, :en, "
                              ":t)"), found)

    def note_file(self, dataset_id: str, distribution: str, sniffed: str, encoding: str | None = None,
                  rows: int | None = None, columns: int | None = None, notes: Sequence[str] = (),
                  content: FileContent | None = None) -> None:
        """Keep what a data file's bytes are, how it was read (the format check and previews use it), and what
        identifies its content (``content``: URL, ETag, Last-Modified, sha256) for the daily job's next look."""
        content = content or FileContent()
        params = {"d": dataset_id, "x": distribution, "s": sniffed, "e": encoding, "r": rows, "c": columns,
                  "n": json.dumps(list(notes), ensure_ascii=False), "t": time.time(), "u": content.url,
                  "et": content.etag, "lm": content.last_modified, "h": content.sha256}
        with self._lock, self.db.write() as conn:
            conn.execute(text("DELETE FROM quality_check_files WHERE dataset = :d AND distribution = :x"), params)
            conn.execute(text("INSERT INTO quality_check_files (dataset, distribution, sniffed, encoding, row_count, "
                              "column_count, notes, checked_at, url, etag, last_modified, sha256) VALUES (:d, :x, :s, "
                              ":e, :r, :c, :n, :t, :u, :et, :lm, :h)"), params)

    def contents(self, dataset_id: str) -> dict[str, FileContent]:
        """Return distribution → what identified its file's content when it was last checked."""
        rows = self.db.rows("SELECT distribution, url, etag, last_modified, sha256 FROM quality_check_files "
                            "WHERE dataset = :d", {"d": dataset_id})
        return {x: FileContent(u, e, m, h) for x, u, e, m, h in rows}

    def seen_unchanged(self, dataset_id: str, distribution: str, content: FileContent) -> None:
        """Note that a file was found unchanged (keep the server's newest validators; its results stay)."""
        self.db.run("UPDATE quality_check_files SET etag = :e, last_modified = :m WHERE dataset = :d AND "
                    "distribution = :x", {"d": dataset_id, "x": distribution, "e": content.etag,
                                          "m": content.last_modified})

    def unsettle(self, dataset_ids: Iterable[str]) -> None:
        """Forget what identified these datasets' files (their results stay): the daily job's next look reads
        and checks them again, as new files, and publishes the datasets again (a check whose publication did not
        happen: the process was ending)."""
        with self._lock, self.db.write() as conn:
            for dataset_id in dataset_ids:
                conn.execute(text("UPDATE quality_check_files SET etag = NULL, last_modified = NULL, sha256 = NULL "
                                  "WHERE dataset = :d"), {"d": dataset_id})

    def keep_only(self, dataset_id: str, distributions: Iterable[str], scope: Sequence[str]) -> None:
        """Drop the file results of a dataset's distributions no longer listed (the checks in ``scope``)."""
        listed = set(distributions)
        gone = {r[0] for r in self.db.rows("SELECT distribution FROM quality_check_files WHERE dataset = :d "
                                           "UNION SELECT distribution FROM quality_check_runs WHERE dataset = :d "
                                           "AND distribution <> ''", {"d": dataset_id})} - listed
        if gone:
            self.save_many([(dataset_id, [], scope, x) for x in sorted(gone)])
            with self._lock, self.db.write() as conn:
                for x in sorted(gone):
                    conn.execute(text("DELETE FROM quality_check_files WHERE dataset = :d AND distribution = :x"),
                                 {"d": dataset_id, "x": x})

    def files(self, dataset_id: str) -> dict[str, dict]:
        """Return distribution → what its file was found to be (sniffed, encoding, rows, columns, notes)."""
        return self.files_of([dataset_id])[dataset_id]

    def files_of(self, dataset_ids: Sequence[str]) -> dict[str, dict[str, dict]]:
        """``files`` of many datasets: one query per 500 of them (a publication's batch asks them together)."""
        out: dict[str, dict[str, dict]] = {d: {} for d in dataset_ids}
        for d, x, s, e, r, c, n in self._of(dataset_ids, "SELECT dataset, distribution, sniffed, encoding, row_count, "
                                            "column_count, notes FROM quality_check_files WHERE dataset IN ({})"):
            out[d][x] = {"sniffed": s, "encoding": e, "rows": r, "columns": c, "notes": json.loads(n or "[]")}
        return out

    def runs_of(self, dataset_ids: Sequence[str]) -> dict[str, list[tuple[str, float]]]:
        """Return dataset → (check, value) of each of its stored check runs (``measurements``' ``stored``)."""
        out: dict[str, list[tuple[str, float]]] = {d: [] for d in dataset_ids}
        for d, c, v in self._of(dataset_ids, "SELECT dataset, check_name, value FROM quality_check_runs "
                                "WHERE dataset IN ({})"):
            out[d].append((c, v))
        return out

    def _of(self, dataset_ids: Sequence[str], sql: str) -> list:
        rows = []
        for marks, params in in_lists(sorted(set(dataset_ids))):
            rows += self.db.rows(sql.format(marks), params)
        return rows

    def findings_for(self, dataset_id: str) -> list[Finding]:
        """Return the dataset's current findings, errors first."""
        rows = self.db.rows("SELECT dataset, distribution, check_name, severity, detail, message_zh, message_en "
                            "FROM quality_check_findings WHERE dataset = :d", {"d": dataset_id})
        found = [Finding(d, x or None, c, s, json.loads(j), zh, en) for d, x, c, s, j, zh, en in rows]
        return sorted(found, key=lambda f: (_SEVERITY.get(f.severity, 9), f.check, f.distribution or ""))

    def findings_of(self, check: str, datasets: Sequence[str] | None = None) -> list[Finding]:
        """Return the current findings of one check (what a work-order sync of that kind takes): of every
        dataset, or of the ``datasets`` named (a publication's batch: not a read of the whole catalogue's)."""
        rows = []
        for where, params in _among(datasets, {"c": check}):
            rows += self.db.rows("SELECT dataset, distribution, check_name, severity, detail, message_zh, message_en "
                                 f"FROM quality_check_findings WHERE check_name = :c{where}", params)
        rows.sort(key=lambda r: (r[0], r[1] or ""))
        return [Finding(d, x or None, c, s, json.loads(j), zh, en) for d, x, c, s, j, zh, en in rows]

    def checked(self, check: str, datasets: Sequence[str] | None = None) -> set[str]:
        """Return the datasets a check has run on (found something or not), of all or of ``datasets``: the scope
        of its findings."""
        return {r[0] for where, params in _among(datasets, {"c": check}) for r in self.db.rows(
            f"SELECT DISTINCT dataset FROM quality_check_runs WHERE check_name = :c{where}", params)}

    def datasets_with_findings(self) -> list[str]:
        """Return the datasets that have at least one finding."""
        return [r[0] for r in self.db.rows("SELECT DISTINCT dataset FROM quality_check_findings ORDER BY dataset")]

    def measurements(self, dataset_id: str, pending: Sequence[CheckRun] = (),
                     stored: Sequence[tuple[str, float]] | None = None) -> dict[str, float]:
        """Return metric local name → value of each check run on the dataset (combined over its files).

        ``pending`` runs, not saved yet, stand in for the stored runs of their checks; ``stored``: the stored
        runs as ``runs_of`` read them (read here when not given).
        """
        replaced = {r.check for r in pending}
        if stored is None:
            stored = self.runs_of([dataset_id])[dataset_id]
        rows = [(c, v) for c, v in stored if c not in replaced]
        rows += [(r.check, float(r.value)) for r in pending]
        out: dict[str, float] = {}
        for check, value in rows:
            if check not in CHECKS:
                continue
            metric, combine = CHECKS[check]
            if metric in out:
                out[metric] = out[metric] + value if combine == "sum" else max(out[metric], value)
            else:
                out[metric] = value
        return out

    def forget(self, dataset_ids: Iterable[str]) -> None:
        """Drop everything known of withdrawn datasets."""
        with self._lock, self.db.write() as conn:
            for dataset_id in dataset_ids:
                for table in ("quality_check_runs", "quality_check_findings", "quality_check_files"):
                    conn.execute(text(f"DELETE FROM {table} WHERE dataset = :d"), {"d": dataset_id})

    def close(self) -> None:
        self.db.close()


def findings_for(dataset: str, store: QualityChecks) -> list[Finding]:
    """Return a dataset's current data-quality findings (what work orders open or refresh)."""
    return store.findings_for(dataset)


def _among(datasets: Sequence[str] | None, params: dict) -> list[tuple[str, dict]]:
    """The WHERE tail and parameters limiting a read to ``datasets`` (None: all), 500 names a statement."""
    if datasets is None:
        return [("", params)]
    datasets = list(dict.fromkeys(datasets))
    return [(f" AND dataset IN ({marks})", {**params, **names}) for marks, names in in_lists(datasets, "d")]
