"""The checks behind `validate.py static`: each takes the parsed docker-compose.yml and returns a list of
problems (empty = pass). No network, no Docker engine."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import contract
import promql_refs
from checks_compose import COMPOSE_CHECKS, entrypoint_file_vars
from checks_image import IMAGE_CHECKS
from checks_observability import check_datasources, check_prometheus, check_tempo  # noqa: F401 (validate.py)
from labfiles import LAB, dashboard_queries, dashboards, datasources, env_var_list, jsonschema, load_yaml

# --------------------------------------------------------------------------------------- compose


def check_compose_schema(compose):
    schema = json.loads((LAB / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(compose), key=lambda e: list(map(str, e.path)))]


def shoplab_image(compose) -> str | None:
    """The image name the build service produces; every service running it is a shoplab process."""
    return next((s.get("image") for s in compose["services"].values() if "build" in s), None)


def shoplab_services(compose) -> dict[str, tuple[dict, contract.Role | None]]:
    image = shoplab_image(compose)
    return {name: (svc, contract.role_for(svc.get("command")))
            for name, svc in compose["services"].items() if "build" in svc or svc.get("image") == image}


def is_one_shot(svc) -> bool:
    return str(svc.get("restart", "no")) == "no"


def check_images_pinned(compose):
    problems = []
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        if not tag or tag == "latest":
            problems.append(f"{name}: image {image!r} has no pinned tag")
    if not shoplab_image(compose):
        problems.append("no service builds the shoplab image (one needs `build:` and `image:`)")
    return problems


def check_roles(compose):
    problems = []
    for name, (svc, role) in shoplab_services(compose).items():
        if role is None:
            problems.append(f"{name}: command {svc.get('command')!r} starts no known shoplab process")
    seen = {role.name for _, role in shoplab_services(compose).values() if role}
    missing = {r.name for r in contract.ROLES} - seen
    if missing:
        problems.append(f"no compose service runs: {', '.join(sorted(missing))}")
    return problems


def check_healthchecks(compose):
    problems = []
    for name, (svc, role) in shoplab_services(compose).items():
        if is_one_shot(svc) or role is None:
            continue
        test = " ".join(svc.get("healthcheck", {}).get("test") or [])
        if not test:
            problems.append(f"{name}: no healthcheck")
        elif not re.search(rf"127\.0\.0\.1:{role.port}/(readyz|healthz)\b", test):
            problems.append(f"{name}: healthcheck {test!r} does not probe /readyz or /healthz on port {role.port}")
    return problems


def check_depends_on(compose):
    services, problems = compose["services"], []
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        deps = {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
        for dep, spec in deps.items():
            cond = (spec or {}).get("condition", "service_started")
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep}")
            elif cond == "service_healthy" and "healthcheck" not in services[dep]:
                problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            elif cond == "service_completed_successfully" and not is_one_shot(services[dep]):
                problems.append(f"{name}: waits for {dep} to complete, but {dep} restarts")
    for name, (svc, role) in shoplab_services(compose).items():
        if is_one_shot(svc) or role is None:
            continue
        deps = svc.get("depends_on") or {}
        for dep, cond in (("postgres", "service_healthy"), ("migrate", "service_completed_successfully"),
                          ("lab-init", "service_completed_successfully")):
            if (deps.get(dep) or {}).get("condition") != cond:
                problems.append(f"{name}: should depend on {dep} with condition {cond}")
    return problems


def _env(svc) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def _env_problems(name, role, env, services, listed):
    listed = listed | entrypoint_file_vars()
    problems = [f"{name}: sets {k}, which is not in .ci/lab/env-vars.txt" for k in env if k not in listed]
    for var in sorted(role.needs):
        default = contract.ENV_DEFAULTS.get(var)
        from_file = var in contract.FILE_VARIANTS and f"{var}_FILE" in env
        if var not in env and not from_file and (default is None or "127.0.0.1" in default):
            why = "has no default" if default is None else f"defaults to {default}, unreachable in a container"
            problems.append(f"{name}: needs {var}, which is not set and {why}")
    if role.listen_var and env.get(role.listen_var) != f"0.0.0.0:{role.port}":
        problems.append(f"{name}: {role.listen_var} should be 0.0.0.0:{role.port}, is {env.get(role.listen_var)!r}")
    for var, value in env.items():
        host = urlsplit(value).hostname if "://" in value and "${" not in value else None
        if host and host not in services:
            problems.append(f"{name}: {var} points at {host}, which is not a compose service")
    if "OTEL_SERVICE_NAME" in env and role is not contract.CLI_ROLE and env["OTEL_SERVICE_NAME"] != role.name:
        problems.append(f"{name}: OTEL_SERVICE_NAME={env['OTEL_SERVICE_NAME']}, expected {role.name}")
    return problems


def check_environment(compose):
    listed, problems = set(env_var_list()), []
    for name, (svc, role) in shoplab_services(compose).items():
        if role is not None:
            problems += _env_problems(name, role, _env(svc), compose["services"], listed)
        if role is not contract.CLI_ROLE and _env(svc).get("OTEL_EXPORTER_OTLP_ENDPOINT") != "http://tempo:4317":
            problems.append(f"{name}: OTEL_EXPORTER_OTLP_ENDPOINT should be http://tempo:4317")
    return problems


def check_env_vars_file(_compose):
    names = env_var_list()
    problems = [f"{n} is listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [f"{n} is read by the binaries (docs/architecture.md, Configuration) but missing from env-vars.txt"
                 for n in sorted(set(contract.ENV_DEFAULTS) - set(names))]
    problems += [f"{n} is listed but contract.ENV_DEFAULTS does not know it"
                 for n in sorted(set(names) - set(contract.ENV_DEFAULTS))]
    return problems


def check_scaling(compose):
    services, problems = compose["services"], []
    analytics = [n for n, (_, r) in shoplab_services(compose).items() if r and r.name == "analytics"]
    for name in analytics:
        for key in ("container_name", "ports"):
            if key in services[name]:
                problems.append(f"{name}: `{key}` prevents `--scale {name}=3`")
    lb = services.get("analytics-lb", {})
    if not any(re.fullmatch(r"(127\.0\.0\.1:)?(8083|\$\{LAB_ANALYTICS_PORT:-8083\}):8083", str(p))
               for p in lb.get("ports", [])):
        problems.append("analytics-lb should publish host port 8083")
    problems += [f"{n}: container_name prevents several labs side by side" for n, s in services.items()
                 if "container_name" in s]
    return problems


def _mounts(svc) -> dict[str, str]:
    """Container path -> host path of the bind mounts of a service."""
    out = {}
    for vol in svc.get("volumes", []):
        if isinstance(vol, str) and vol.startswith("."):
            host, target = vol.split(":")[:2]
            out[target] = host
    return out


def check_observability_services(compose):
    s, problems = compose["services"], []
    flags = " ".join(s.get("prometheus", {}).get("command", []))
    for flag in ("--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage"):
        if flag not in flags:
            problems.append(f"prometheus: command lacks {flag}")
    expect = {"prometheus": {"/etc/prometheus/prometheus.yml": "./grafana/prometheus.yml"},
              "grafana": {"/etc/grafana/provisioning": "./grafana/provisioning",
                          "/var/lib/grafana/dashboards": "./grafana/dashboards"},
              "k6": {"/k6": "./k6"}}
    tempo_cfg = next((a.split("=", 1)[1] for a in s.get("tempo", {}).get("command", []) if "config.file" in a), "")
    expect["tempo"] = {tempo_cfg: "./grafana/tempo.yaml"}
    for svc, mounts in expect.items():
        for target, host in mounts.items():
            if _mounts(s.get(svc, {})).get(target) != host:
                problems.append(f"{svc}: should mount {host} at {target}")
    genv = _env(s.get("grafana", {}))
    if genv.get("GF_AUTH_ANONYMOUS_ENABLED") != "true" or genv.get("GF_AUTH_ANONYMOUS_ORG_ROLE") != "Viewer":
        problems.append("grafana: anonymous access should be enabled with the Viewer role (and no more)")
    if "k6" not in s.get("k6", {}).get("profiles", []):
        problems.append("k6: should sit under the `k6` profile so `up` does not start it")
    provider = load_yaml("grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    if provider.get("type") != "file" or provider["options"]["path"] != "/var/lib/grafana/dashboards":
        problems.append("dashboards provider should be type file with path /var/lib/grafana/dashboards")
    return problems


# ------------------------------------------------------------------------------------- dashboards

EXPECTED_DASHBOARDS = {"shoplab-overview", "case1-product", "case2-analytics", "case3-auth"}
BUILTIN_UIDS = {"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"}


def _valid_dashboards():
    return {name: d for name, d in dashboards().items() if isinstance(d, dict)}


def check_dashboard_files(_compose):
    problems, found = [], dashboards()
    for name, dash in found.items():
        if not isinstance(dash, dict):
            problems.append(f"{name}: {dash}")
            continue
        if dash.get("uid") != name.removesuffix(".json"):
            problems.append(f"{name}: uid {dash.get('uid')!r} should equal the file name")
        if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 39:
            problems.append(f"{name}: schemaVersion {dash.get('schemaVersion')} is older than 39")
        ids = [p.get("id") for p in promql_refs.walk_panels(dash.get("panels"))]
        if len(ids) != len(set(ids)) or None in ids:
            problems.append(f"{name}: panel ids must be present and unique")
        problems += [f"{name}: panel {p.get('id')} has no gridPos"
                     for p in promql_refs.walk_panels(dash.get("panels")) if "gridPos" not in p]
    missing = EXPECTED_DASHBOARDS - {n.removesuffix(".json") for n in found}
    problems += [f"dashboard {m}.json is missing" for m in sorted(missing)]
    return problems


def _uids_used(dash):
    for panel in promql_refs.walk_panels(dash.get("panels")):
        yield panel.get("title"), promql_refs.datasource_uid(panel.get("datasource"))
        for t in panel.get("targets", []):
            yield panel.get("title"), promql_refs.datasource_uid(t.get("datasource"))
    for a in dash.get("annotations", {}).get("list", []):
        yield f"annotation {a.get('name')}", promql_refs.datasource_uid(a.get("datasource"))
    for v in dash.get("templating", {}).get("list", []):
        yield f"variable {v.get('name')}", promql_refs.datasource_uid(v.get("datasource"))


def check_dashboard_datasources(_compose):
    defined = {ds.get("uid") for ds in datasources()} | BUILTIN_UIDS
    return [f"{name}: {where} uses datasource uid {uid!r}, not provisioned"
            for name, dash in _valid_dashboards().items() for where, uid in _uids_used(dash)
            if uid is not None and uid not in defined]


def check_flag_annotations(_compose):
    problems = []
    for name, dash in _valid_dashboards().items():
        sql = [a.get("target", {}).get("rawSql", "") for a in dash.get("annotations", {}).get("list", [])
               if promql_refs.datasource_uid(a.get("datasource")) == "postgres"]
        if not any("lab.flag_events" in q and "$__timeFilter(at)" in q for q in sql):
            problems.append(f"{name}: no Postgres annotation on lab.flag_events with $__timeFilter(at)")
    return problems


def _selector_problems(sel: promql_refs.Selector, known: dict[str, str]) -> list[str]:
    if sel.metric not in known:
        return [f"metric {sel.metric or '{...}'} is not in the metrics contract (docs/architecture.md, Metrics)"]
    problems, labels = [], contract.labels_of(sel.metric)
    for label, op, value in sel.matchers:
        allowed = contract.RESULT_VALUES.get(known[sel.metric]) if label == "result" else \
            contract.LABEL_VALUES.get(label)
        if label not in labels:
            problems.append(f"{sel.metric} has no label {label}")
        elif allowed and op in ("=", "=~") and re.fullmatch(r"[\w.-]+(\|[\w.-]+)*", value):
            problems += [f"{sel.metric}{{{label}}} has no value {v!r}" for v in value.split("|") if v not in allowed]
        elif label == "flag" and op in ("=", "=~") and not any(re.fullmatch(value, f) for f in contract.FLAGS):
            problems.append(f"flag matcher {value!r} matches no known flag")
    return problems


def check_dashboard_queries(_compose):
    problems, known = [], contract.series_names()
    for name, where, expr in dashboard_queries():
        try:
            refs = promql_refs.references(expr)
        except (ValueError, IndexError) as e:
            problems.append(f"{name} {where}: cannot parse {expr!r}: {e}")
            continue
        labels = set().union(*(contract.labels_of(m) for m in refs.metrics)) if refs.metrics else set()
        for sel in refs.selectors:
            problems += [f"{name} {where}: {p}" for p in _selector_problems(sel, known)]
        problems += [f"{name} {where}: groups by {g}, which none of its metrics carries"
                     for g in sorted(refs.grouping - labels)]
    return problems


def check_dashboard_links(_compose):
    problems, uids = [], {d.get("uid") for d in _valid_dashboards().values()}
    for name, dash in _valid_dashboards().items():
        urls = [link.get("url", "") for link in dash.get("links", [])]
        for url in urls:
            m = re.match(r"/d/([\w-]+)", url)
            if m and m.group(1) not in uids:
                problems.append(f"{name}: link to unknown dashboard {m.group(1)}")
        if name == "shoplab-overview.json":
            for uid in sorted(EXPECTED_DASHBOARDS - {"shoplab-overview"}):
                if f"/d/{uid}" not in urls:
                    problems.append(f"{name}: no link to {uid}")
            if not any(u.startswith("/explore") and "tempo" in u for u in urls):
                problems.append(f"{name}: no link to Tempo in Explore")
    return problems


CHECKS = [
    ("compose matches the Compose Specification", check_compose_schema),
    ("compose images are pinned", check_images_pinned),
    ("every shoplab process runs in compose", check_roles),
    ("shoplab services have health checks", check_healthchecks),
    *COMPOSE_CHECKS,
    *IMAGE_CHECKS,
    ("depends_on conditions hold", check_depends_on),
    ("shoplab services get the environment they need", check_environment),
    (".ci/lab/env-vars.txt lists the binaries' variables", check_env_vars_file),
    ("analytics can be scaled", check_scaling),
    ("observability services are wired", check_observability_services),
    ("prometheus scrapes every process", check_prometheus),
    ("tempo.yaml receives OTLP and generates metrics", check_tempo),
    ("datasources are provisioned with fixed uids", check_datasources),
    ("dashboards are valid", check_dashboard_files),
    ("dashboards use provisioned datasources", check_dashboard_datasources),
    ("dashboards annotate flag changes", check_flag_annotations),
    ("dashboard queries use the contract's metrics and labels", check_dashboard_queries),
    ("dashboard links resolve", check_dashboard_links),
]
