"""What the lab's dashboards ask Prometheus for: the PromQL of every panel, and the metric names,
label matchers and grouping labels inside it.

Used by validate.py. A small tokenizer is enough here: the dashboards use selectors, functions,
aggregations with `by (...)`, binary operators and `or`; nothing that needs a full PromQL parser.
Syntax itself is checked by `promtool check rules` on the file `validate.py rules-file` writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Grafana's interval variables stand for durations; every other template variable for a regex.
DURATION_VARS = {"__rate_interval": "1m", "__interval": "1m", "__range": "5m", "__interval_ms": "60000",
                 "__range_s": "300", "__range_ms": "300000"}
TEMPLATE_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan", "start", "end"}

TOKEN = re.compile(r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@])
  | (?P<space>\s+)
""", re.VERBOSE)


@dataclass
class Selector:
    """One `metric{label op "value", ...}` inside an expression."""
    metric: str
    matchers: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Refs:
    """Everything an expression refers to."""
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors}


def substitute(expr: str) -> str:
    """Replaces Grafana template variables so the expression can be run or parsed as PromQL."""
    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return DURATION_VARS.get(name, ".*")
    return TEMPLATE_VAR.sub(repl, expr)


def tokenize(expr: str) -> list[tuple[str, str]]:
    """(kind, text) pairs, whitespace dropped; raises ValueError on a character PromQL cannot hold."""
    tokens, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read PromQL at {expr[pos:pos + 20]!r}")
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group()))
        pos = m.end()
    return tokens


def _unquote(s: str) -> str:
    return s[1:-1].encode().decode("unicode_escape") if s[0] in "\"'" else s[1:-1]


def _read_matchers(tokens, i) -> tuple[list[tuple[str, str, str]], int]:
    """Reads `{a="x", b=~"y"}` starting at the `{` at index i; returns matchers and the index after `}`."""
    matchers, i = [], i + 1
    while tokens[i][1] != "}":
        name, op, value = tokens[i][1], tokens[i + 1][1], tokens[i + 2]
        if value[0] != "string":
            raise ValueError(f"label matcher {name}{op} without a quoted value")
        matchers.append((name, op, _unquote(value[1])))
        i += 3
        if tokens[i][1] == ",":
            i += 1
    return matchers, i + 1


def _read_label_list(tokens, i) -> tuple[list[str], int]:
    """Reads `(a, b)` starting at the `(` at index i."""
    labels, i = [], i + 1
    while tokens[i][1] != ")":
        if tokens[i][0] == "ident":
            labels.append(tokens[i][1])
        i += 1
    return labels, i + 1


def references(expr: str) -> Refs:
    """Metric selectors and grouping labels of a PromQL expression (template variables allowed)."""
    tokens, refs, i = tokenize(substitute(expr)), Refs(), 0
    tokens.append(("end", ""))
    while i < len(tokens) - 1:
        kind, text = tokens[i]
        following = tokens[i + 1][1]
        if kind == "ident" and text in GROUPING and following == "(":
            labels, i = _read_label_list(tokens, i + 1)
            refs.grouping.update(labels)
        elif kind == "ident" and (following == "(" or text in AGGREGATIONS or text in KEYWORDS
                                  or text in GROUPING):
            i += 1
        elif kind == "ident":
            selector = Selector(text)
            i += 1
            if tokens[i][1] == "{":
                selector.matchers, i = _read_matchers(tokens, i)
            refs.selectors.append(selector)
        elif text == "{":  # a selector without a metric name, e.g. {__name__=~"..."}
            matchers, i = _read_matchers(tokens, i)
            refs.selectors.append(Selector("", matchers))
        else:
            i += 1
    return refs


LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", re.S)


def variable_selector(query) -> str | None:
    """The series selector inside a `label_values(selector, label)` variable query, if any."""
    text = query.get("query", "") if isinstance(query, dict) else (query or "")
    m = LABEL_VALUES.match(text)
    return m.group(1) if m else None


def walk_panels(panels):
    """Every panel, including those nested in rows."""
    for panel in panels or []:
        yield panel
        yield from walk_panels(panel.get("panels"))


def datasource_uid(ds, fallback=None):
    """The uid of a datasource reference (object form, or a plain uid/name string)."""
    if ds is None:
        return fallback
    return ds.get("uid") if isinstance(ds, dict) else ds


def prom_queries(dashboard: dict, prometheus_uids: set[str]):
    """(where, expr) for every Prometheus query of a dashboard: panel targets and variable queries."""
    for panel in walk_panels(dashboard.get("panels")):
        panel_ds = datasource_uid(panel.get("datasource"))
        for target in panel.get("targets", []):
            uid = datasource_uid(target.get("datasource"), panel_ds)
            if uid in prometheus_uids and target.get("expr"):
                yield f"panel {panel.get('id')} {panel.get('title')!r} ref {target.get('refId')}", target["expr"]
    for var in dashboard.get("templating", {}).get("list", []):
        if datasource_uid(var.get("datasource")) in prometheus_uids:
            selector = variable_selector(var.get("query"))
            if selector:
                yield f"variable ${var.get('name')}", selector
