#!/usr/bin/env python3
"""Checks the observability lab (docker-compose.yml, grafana/) against itself and against the services.

    python3 .ci/lab/validate.py static              # no network, no Docker: files agree with each other
    python3 .ci/lab/validate.py metrics-used        # metric names the dashboards query
    python3 .ci/lab/validate.py scrape URL...       # every dashboard metric appears in these /metrics pages
    python3 .ci/lab/validate.py promql PROM_URL [--require-data]   # run every panel query
    python3 .ci/lab/validate.py rules-file OUT.yml  # panel queries as recording rules, for `promtool check rules`
    python3 .ci/lab/validate.py tempo-config        # grafana/tempo.yaml has the receivers and generator the lab needs
    python3 .ci/lab/validate.py mixed RENDERED.json # docker/compose.native.yml merged (`config --format json`)

The contract it checks against is docs/architecture.md, "Metrics" (metric names and labels) and "Configuration"
(environment), mirrored in contract.py; .ci/lab/env-vars.txt lists every environment variable the binaries read.
Exit status: 0 when every check passed, 1 otherwise; each failure is one line starting with FAIL.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ next to the checks in the work tree
sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks_mixed  # noqa: E402
import checks_static  # noqa: E402
import contract  # noqa: E402
import promql_refs  # noqa: E402
from labfiles import compose, dashboard_queries, metrics_used, yaml  # noqa: E402


class Report:
    """Collects the outcome of each named check and prints the closing count line."""

    def __init__(self, title: str):
        self.title, self.passed, self.failed = title, 0, 0

    def check(self, name: str, problems: list[str]) -> None:
        if problems:
            self.failed += 1
            for p in problems:
                print(f"FAIL {name}: {p}")
        else:
            self.passed += 1
            print(f"ok   {name}")

    def note(self, name: str, message: str, fail: bool) -> None:
        """A finding that fails only when asked to (e.g. a query with no data yet)."""
        print(f"{'FAIL' if fail else 'note'} {name}: {message}")
        if fail:
            self.failed += 1
        else:
            self.passed += 1

    def finish(self) -> int:
        print(f"{self.title}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


# ------------------------------------------------------------------------------------------ static

def cmd_static() -> int:
    report = Report("static")
    spec = compose()
    for name, check in checks_static.CHECKS:
        try:
            report.check(name, check(spec))
        except Exception as e:  # a crash in one check is reported, the others still run
            report.check(name, [f"check crashed: {type(e).__name__}: {e}"])
    return report.finish()


def cmd_metrics_used() -> int:
    used = metrics_used()
    for metric in sorted(used):
        print(f"{metric}\t{', '.join(sorted(used[metric]))}")
    unused = sorted(set(contract.METRICS) - {contract.base_name(m) for m in used})
    if unused:
        print(f"# contract metrics no dashboard shows: {', '.join(unused)}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------ scrape

def fetch(url: str, timeout: float = 10.0) -> str:
    req = urllib.request.Request(url, headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read().decode("utf-8", "replace")


def exposed_names(text: str) -> set[str]:
    """Series names a /metrics page exposes: its sample lines, plus the series each `# TYPE` line
    implies (a labelled counter or histogram with no observation yet has a TYPE line but no sample)."""
    implied = {"counter": ("", "_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
               "gaugehistogram": ("_bucket", "_gsum", "_gcount"), "summary": ("", "_sum", "_count", "_created")}
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                names.update(parts[2] + suffix for suffix in implied.get(parts[3], ("",)))
        elif line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names


def cmd_scrape(urls: list[str]) -> int:
    report = Report("scrape")
    seen: set[str] = set()
    for url in urls:
        try:
            seen |= exposed_names(fetch(url))
            report.check(f"fetch {url}", [])
        except (urllib.error.URLError, OSError) as e:
            report.check(f"fetch {url}", [str(e)])
    used = metrics_used()
    for metric in sorted(used):
        where = ", ".join(sorted(used[metric]))
        report.check(f"metric {metric}", [] if metric in seen else
                     [f"used by {where} but absent from every scraped page"])
    return report.finish()


# ------------------------------------------------------------------------------------------ promql

def prom_query(base: str, expr: str, timeout: float = 15.0) -> dict:
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:  # Prometheus answers 400/422 with a JSON error body
        return json.loads(e.read().decode() or "{}") or {"status": "error", "error": str(e)}


def cmd_promql(base: str, require_data: bool) -> int:
    report = Report("promql")
    for name, where, expr in dashboard_queries():
        query = promql_refs.substitute(expr)
        try:
            answer = prom_query(base, query)
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as e:
            report.check(f"{name} {where}", [f"request failed: {e}"])
            continue
        if answer.get("status") != "success":
            report.check(f"{name} {where}", [f"{answer.get('error', answer)} in: {query}"])
        elif not answer["data"]["result"]:
            report.note(f"{name} {where}", f"no data for: {query}", require_data)
        else:
            report.check(f"{name} {where}", [])
    return report.finish()


def cmd_rules_file(out: str) -> int:
    rules = [{"record": f"lab:query_{i}", "expr": promql_refs.substitute(expr)}
             for i, (_, _, expr) in enumerate(dashboard_queries())]
    Path(out).write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]},
                                        sort_keys=False, width=1000))
    print(f"{len(rules)} dashboard queries written to {out}")
    return 0


def cmd_tempo_config() -> int:
    report = Report("tempo-config")
    report.check("grafana/tempo.yaml", checks_static.check_tempo(None))
    return report.finish()


def cmd_mixed(path: str) -> int:
    report = Report("mixed")
    report.check(f"mixed mode ({path})", checks_mixed.check_mixed(json.loads(Path(path).read_text())))
    return report.finish()


USAGE = __doc__.split("\n\n")[1]


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "static" and not args:
        return cmd_static()
    if cmd == "metrics-used" and not args:
        return cmd_metrics_used()
    if cmd == "scrape" and args:
        return cmd_scrape(args)
    if cmd == "promql" and args and len([a for a in args if not a.startswith("--")]) == 1:
        return cmd_promql(next(a for a in args if not a.startswith("--")), "--require-data" in args)
    if cmd == "rules-file" and len(args) == 1:
        return cmd_rules_file(args[0])
    if cmd == "tempo-config" and not args:
        return cmd_tempo_config()
    if cmd == "mixed" and len(args) == 1:
        return cmd_mixed(args[0])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
