"""Reading the lab's files: compose, provisioning, dashboards, and the queries inside the dashboards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import promql_refs

LAB = Path(__file__).resolve().parent
ROOT = LAB.parent.parent


def _deps():
    """PyYAML, jsonschema and dockerfile (BuildKit's own Dockerfile parser), installed from
    .ci/lab/requirements.txt on first use if missing."""
    try:
        import dockerfile
        import jsonschema
        import yaml
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r",
                        str(LAB / "requirements.txt")], check=True)
        import dockerfile
        import jsonschema
        import yaml
    return yaml, jsonschema, dockerfile


yaml, jsonschema, dockerfile = _deps()


def load_yaml(rel: str):
    with open(ROOT / rel) as f:
        return yaml.safe_load(f)


def compose() -> dict:
    return load_yaml("docker-compose.yml")


def dashboards() -> dict[str, dict | str]:
    """File name -> parsed dashboard; a file that is not valid JSON maps to the error text."""
    out: dict[str, dict | str] = {}
    for path in sorted((ROOT / "grafana/dashboards").glob("*.json")):
        try:
            out[path.name] = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            out[path.name] = f"not valid JSON: {e}"
    return out


def datasources() -> list[dict]:
    return load_yaml("grafana/provisioning/datasources/datasources.yaml").get("datasources", [])


def prometheus_uids() -> set[str]:
    return {ds["uid"] for ds in datasources() if ds.get("type") == "prometheus"}


def dashboard_queries():
    """(dashboard file, where, expr) for every Prometheus query in every dashboard."""
    prom = prometheus_uids()
    for name, dash in dashboards().items():
        if isinstance(dash, dict):
            for where, expr in promql_refs.prom_queries(dash, prom):
                yield name, where, expr


def metrics_used() -> dict[str, set[str]]:
    """Metric name -> the dashboards that query it."""
    used: dict[str, set[str]] = {}
    for name, _, expr in dashboard_queries():
        for metric in promql_refs.references(expr).metrics:
            used.setdefault(metric, set()).add(name)
    return used


def env_var_list() -> list[str]:
    """Names in .ci/lab/env-vars.txt, one per line."""
    lines = (LAB / "env-vars.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
