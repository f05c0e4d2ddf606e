"""``wodp audit verify`` and ``wodp audit export``: the command line's side of the audit log (access/audit.py)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from access.audit import Anchor, verify, verify_entries
from access.audit_export import export, read_jsonl, utc_bound
from core.errors import BadRequestError
from server.audit import ANCHOR_FILE, CLI, cli_detail, open_audit, write


@contextmanager
def opened(settings):
    """Open the log of the home (its part of the data layer) with its anchor, for one command."""
    audit_log = open_audit(settings)
    try:
        yield audit_log
    finally:
        audit_log.close()


def verify_command(settings, args) -> int:
    """Print what verify found; 0 when the log is whole, 1 naming the first bad entry."""
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            report = verify_entries(read_jsonl(handle), anchor=Anchor(settings.home / ANCHOR_FILE).read())
        where = args.file
    else:
        with opened(settings) as audit_log:
            report = verify(audit_log)
        where = "the audit log"
    anchor = report.anchor
    print(f"{where}: {report.entries} entries, head #{report.head_seq} {report.head_hash[:16]}…; anchor "
          + (f"#{anchor['seq']} of {anchor['at']}" if anchor else "none (no entry was ever anchored here)"))
    if report.ok:
        print("the chain is whole: every entry matches its hash and follows the one before")
        return 0
    for problem in report.problems:
        print(f"  #{problem.seq} {problem.kind}: {problem.message}", file=sys.stderr)
    more = "" if report.complete else f", the walk stopped at entry #{report.head_seq}"
    print(f"wodp: audit log broken: the first bad entry is #{report.first_bad} ({len(report.problems)} problems"
          f"{more})", file=sys.stderr)
    return 1


def export_command(settings, args) -> int:
    """Write the entries the filters select; the export itself is an entry of the log."""
    try:
        since, until = utc_bound(args.since), utc_bound(args.until)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    filters = {"since": since, "until": until, "actor": args.actor, "action": args.what}
    with opened(settings) as audit_log:
        entries = audit_log.entries(**filters)
        if args.output:
            with open(Path(args.output), "w", encoding="utf-8", newline="") as out:
                n = export(entries, out, args.format)
            print(f"{n} entries written to {args.output}", file=sys.stderr)
        else:
            n = export(entries, sys.stdout, args.format)
        who = CLI.get()["principal"] if CLI.get() is not None else None  # the --as account, else the OS account
        write(audit_log, actor=getattr(who, "id", None), role=getattr(who, "role", None), action="audit.export",
              target="audit-log", address=None,
              detail={**cli_detail(), "format": args.format, "entries": n,
                      "filters": {k: v for k, v in filters.items() if v}})
    return 0
