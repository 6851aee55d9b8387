"""Checks of the mixed mode (`validate.py mixed RENDERED.json`): docker-compose.yml merged with
docker/compose.native.yml, as `docker compose ... config --format json` renders it. Grafana, Tempo and
Prometheus must work beside services run natively on 127.0.0.1: on the host's network, bound to
127.0.0.1, with the lab's service names pointing at the host, and with nothing from the compose
backing stores or the shoplab image on their dependency path."""

from __future__ import annotations

import checks_compose

OBSERVABILITY = ("tempo", "prometheus", "grafana")
HOST_NAMES = {"prometheus", "tempo", "postgres"}  # names grafana/tempo.yaml and the datasources use


def _dependency_closure(services: dict, roots) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += list((services.get(name, {}).get("depends_on") or {}))
    return seen


def _extra_hosts(svc) -> dict[str, str]:
    hosts = svc.get("extra_hosts") or {}
    if isinstance(hosts, list):
        hosts = dict(h.replace("=", ":", 1).split(":", 1) for h in hosts)
    return {k: (v[0] if isinstance(v, list) else v) for k, v in hosts.items()}


def _service_problems(name, svc) -> list[str]:
    problems = []
    if svc.get("network_mode") != "host":
        problems.append(f"{name}: network_mode should be host (native services listen on 127.0.0.1 only)")
    if svc.get("ports"):
        problems.append(f"{name}: publishes ports, which the host network ignores")
    if name in ("grafana", "tempo"):
        wrong = {h for h in HOST_NAMES if _extra_hosts(svc).get(h) != "127.0.0.1"}
        if wrong:
            problems.append(f"{name}: extra_hosts should map {', '.join(sorted(wrong))} to 127.0.0.1")
    return problems


def _binding_problems(s) -> list[str]:
    problems = []
    prom_args = " ".join(s.get("prometheus", {}).get("command") or [])
    if "--web.listen-address=127.0.0.1:9090" not in prom_args:
        problems.append("prometheus: should listen on 127.0.0.1:9090 only")
    mounts = {v.get("target"): v.get("source", "") for v in s.get("prometheus", {}).get("volumes", [])}
    if not mounts.get("/etc/prometheus/prometheus.yml", "").endswith(".ci/lab/prometheus-native.yml"):
        problems.append("prometheus: should load .ci/lab/prometheus-native.yml (targets on 127.0.0.1)")
    if (s.get("grafana", {}).get("environment") or {}).get("GF_SERVER_HTTP_ADDR") != "127.0.0.1":
        problems.append("grafana: GF_SERVER_HTTP_ADDR should be 127.0.0.1")
    tempo = s.get("tempo", {})
    if (tempo.get("environment") or {}).get("TEMPO_OTLP_HOST") != "127.0.0.1":
        problems.append("tempo: TEMPO_OTLP_HOST should be 127.0.0.1 (OTLP receivers)")
    for flag in ("-server.http-listen-address=127.0.0.1", "-server.grpc-listen-address=127.0.0.1",
                 "-config.expand-env=true"):
        if flag not in (tempo.get("command") or []):
            problems.append(f"tempo: command lacks {flag}")
    return problems


def check_mixed(rendered: dict) -> list[str]:
    s, problems = rendered.get("services", {}), []
    for name in OBSERVABILITY:
        if name not in s:
            problems.append(f"{name}: missing from the merged configuration")
            continue
        problems += _service_problems(name, s[name])
    needed = _dependency_closure(s, OBSERVABILITY)
    built = checks_compose.built_images(rendered)
    for name in sorted(needed):
        svc = s.get(name, {})
        if name in ("postgres", "redis", "rabbitmq") or svc.get("image") in built:
            problems.append(f"{name}: the observability services depend on it, but mixed mode runs it natively")
    problems += _binding_problems(s)
    problems += checks_compose.check_healthcheck_commands({"services": {n: s[n] for n in needed if n in s}})
    return problems
