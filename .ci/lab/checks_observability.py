"""Checks of the observability services' own configuration (part of `validate.py static`): the
Prometheus scrape jobs (compose and native), grafana/tempo.yaml, and Grafana's datasources. Each takes
the parsed docker-compose.yml (or None: file-only checks) and returns a list of problems."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import contract
from checks_compose import READER_ROLE
from labfiles import ROOT, datasources, load_yaml, yaml


def _shoplab_roles(compose) -> dict[str, str]:
    """Role name -> the compose service that runs it."""
    from checks_static import shoplab_services
    return {r.name: n for n, (_, r) in shoplab_services(compose).items() if r}


# ------------------------------------------------------------------------------------- prometheus


def _jobs(rel):
    return {job["job_name"]: job for job in load_yaml(rel).get("scrape_configs", [])}


def _targets(job) -> list[tuple[str, int]]:
    out = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1]))
           for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
    out += [(n, sd.get("port")) for sd in job.get("dns_sd_configs", []) for n in sd.get("names", [])]
    return out


def check_prometheus(compose):
    problems, roles = [], {r.name: r for r in contract.ROLES}
    where = _shoplab_roles(compose)
    for rel, native in (("grafana/prometheus.yml", False), (".ci/lab/prometheus-native.yml", True)):
        jobs = _jobs(rel)
        if set(jobs) != set(roles):
            problems.append(f"{rel}: jobs {sorted(jobs)} should be exactly {sorted(roles)}")
        interval = load_yaml(rel).get("global", {}).get("scrape_interval")
        if interval != "5s":
            problems.append(f"{rel}: scrape_interval is {interval}, the dashboards assume 5s")
        for name, job in jobs.items():
            if name not in roles:
                continue
            want = ("127.0.0.1" if native else where.get(name), roles[name].port)
            if _targets(job) != [want]:
                problems.append(f"{rel}: job {name} scrapes {_targets(job)}, expected {want[0]}:{want[1]}")
    return problems


# ------------------------------------------------------------------------------------------ tempo


def _expand_defaults(text: str) -> str:
    """Tempo's -config.expand-env with nothing set: ${VAR:-default} becomes default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def check_tempo(compose):
    cfg, problems = yaml.safe_load(_expand_defaults((ROOT / "grafana/tempo.yaml").read_text())), []
    protocols = cfg.get("distributor", {}).get("receivers", {}).get("otlp", {}).get("protocols", {}) or {}
    for proto, port in (("grpc", 4317), ("http", 4318)):
        endpoint = (protocols.get(proto) or {}).get("endpoint")
        if endpoint != f"0.0.0.0:{port}":
            problems.append(f"otlp {proto} receiver endpoint is {endpoint!r}, should be 0.0.0.0:{port}")
    writes = cfg.get("metrics_generator", {}).get("storage", {}).get("remote_write") or []
    if not any(w.get("url") == "http://prometheus:9090/api/v1/write" and w.get("send_exemplars") for w in writes):
        problems.append("metrics_generator must remote_write to http://prometheus:9090/api/v1/write "
                        "with send_exemplars: true")
    processors = cfg.get("overrides", {}).get("defaults", {}).get("metrics_generator", {}).get("processors") or []
    for proc in ("span-metrics", "service-graphs"):
        if proc not in processors:
            problems.append(f"metrics_generator processor {proc} is not enabled")
    if cfg.get("storage", {}).get("trace", {}).get("backend") != "local":
        problems.append("storage.trace.backend should be local")
    tempo = (compose or {}).get("services", {}).get("tempo", {}) if compose else {}
    data = next((v.split(":")[1] for v in tempo.get("volumes", []) if str(v).startswith("tempo-data:")), None)
    paths = [cfg.get("storage", {}).get("trace", {}).get(k, {}).get("path", "") for k in ("wal", "local")]
    paths.append(cfg.get("metrics_generator", {}).get("storage", {}).get("path", ""))
    if compose and (not data or not all(p.startswith(data + "/") for p in paths)):
        problems.append(f"trace storage {paths} should lie on the tempo-data volume (mounted at {data})")
    if compose and "-config.expand-env=true" not in tempo.get("command", []):
        problems.append("tempo: command needs -config.expand-env=true (tempo.yaml uses ${...:-default})")
    if cfg.get("server", {}).get("http_listen_port") != 3200:
        problems.append("server.http_listen_port should be 3200 (Grafana's Tempo datasource uses it)")
    return problems


# ------------------------------------------------------------------------------------ datasources


def check_datasources(compose):
    by_uid, problems = {ds.get("uid"): ds for ds in datasources()}, []
    for uid, kind in (("prometheus", "prometheus"), ("tempo", "tempo"), ("postgres", "grafana-postgresql-datasource")):
        if by_uid.get(uid, {}).get("type") not in (kind, "postgres" if uid == "postgres" else kind):
            problems.append(f"datasource uid {uid} of type {kind} is missing")
    prom = by_uid.get("prometheus", {}).get("jsonData", {})
    for label in ("trace_id", "traceID"):  # the services' exemplars, Tempo's span-metrics exemplars
        if {"name": label, "datasourceUid": "tempo"} not in prom.get("exemplarTraceIdDestinations", []):
            problems.append(f"prometheus: exemplarTraceIdDestinations needs {{name: {label}, datasourceUid: tempo}}")
    tempo = by_uid.get("tempo", {}).get("jsonData", {})
    if tempo.get("tracesToMetrics", {}).get("datasourceUid") != "prometheus":
        problems.append("tempo: tracesToMetrics.datasourceUid should be prometheus")
    if tempo.get("serviceMap", {}).get("datasourceUid") != "prometheus":
        problems.append("tempo: serviceMap.datasourceUid should be prometheus")
    if not tempo.get("nodeGraph", {}).get("enabled"):
        problems.append("tempo: nodeGraph should be enabled")
    pg = by_uid.get("postgres", {})
    if pg.get("jsonData", {}).get("database") != "shoplab" or pg.get("user") != READER_ROLE:
        problems.append(f"postgres: should use database shoplab as the read-only role {READER_ROLE}")
    for ds in by_uid.values():
        url = ds.get("url", "")
        host = urlsplit(url if "://" in url else "//" + url).hostname
        if host not in compose["services"]:
            problems.append(f"datasource {ds.get('uid')}: url {url} is not a compose service")
    return problems
