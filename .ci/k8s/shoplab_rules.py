"""The shoplab-specific half of the Kubernetes policy checks (policy.py runs them).

Environment: .ci/lab/env-vars.txt lists every variable the shoplab binaries read. Each one is either
required on every shoplab process, or belongs to some roles only (a listen address, the admin token,
the JWT secret), or is an alternative to another (`*_FILE`), or must stay unset in a cluster. A
variable this file does not classify is required everywhere, so a new one fails CI until the
manifests set it or this table says why they need not.

Repository files: overlays/lab reads the dashboards and k6 scripts from grafana/ and k6/ (kustomize
lists files, it does not glob), so a file added there must be added to the kustomization too.
"""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ENV_VARS = REPO / ".ci/lab/env-vars.txt"

# Every check policy.py reports, in order; each must fail on fixtures/broken.yaml (selftest.py).
CHECKS = (
    "image-pinned", "probes", "resources", "non-root", "read-only-root", "capabilities", "shutdown",
    "env", "secret-refs", "config-refs", "service-targets", "api-versions", "no-secrets", "hpa-target",
    "lab-files",
)

# `shoplab SUBCOMMAND...` -> (role, listen-address variable or None)
ROLES = {
    ("product",): ("api", "PRODUCT_ADDR"),
    ("auth", "serve"): ("api", "AUTH_ADDR"),
    ("analytics", "serve"): ("api", "ANALYTICS_ADDR"),
    ("email-provider",): ("api", "EMAIL_PROVIDER_ADDR"),
    ("auth", "relay"): ("worker", "METRICS_ADDR"),
    ("auth", "email-worker"): ("worker", "METRICS_ADDR"),
    ("analytics", "relay"): ("worker", "METRICS_ADDR"),
    ("analytics", "aggregator"): ("worker", "METRICS_ADDR"),
    ("migrate",): ("migrate", None),
    ("seed",): ("seed", None),
}
LISTEN = {"PRODUCT_ADDR", "AUTH_ADDR", "ANALYTICS_ADDR", "EMAIL_PROVIDER_ADDR", "METRICS_ADDR"}
# Credentials: from a Secret (secretKeyRef), never a literal in a manifest.
SECRET_VARS = {"DATABASE_URL", "REDIS_URL", "AMQP_URL", "SHOPLAB_ADMIN_TOKEN", "AUTH_JWT_SECRET"}
# Alternatives: reading the secret from a mounted file satisfies the variable itself.
ALTERNATIVES = {"SHOPLAB_ADMIN_TOKEN_FILE": "SHOPLAB_ADMIN_TOKEN", "AUTH_JWT_SECRET_FILE": "AUTH_JWT_SECRET"}
# Never set in a cluster: lab-mode relaxations (the Secret supplies real values), `shoplab up` internals.
FORBIDDEN = {"SHOPLAB_LAB", "SHOPLAB_SUPERVISOR_PID"}
# CLI-only settings no container reads.
CLI_ONLY = {"SHOPLAB_HOME"}
# The Secrets docs/kubernetes.md tells people to create, and their keys.
SECRET_KEYS = {
    "shoplab-secrets": {"admin-token", "jwt-secret"},
    "shoplab-backends": {
        "database-url", "redis-url", "amqp-url", "postgres-password", "redis-password", "rabbitmq-password",
    },
}


def known_vars():
    return [v.strip() for v in ENV_VARS.read_text().splitlines() if v.strip() and not v.startswith("#")]


def role_of(container):
    """(subcommand tuple, role, listen var) for a shoplab container, None for any other image."""
    image = container.get("image", "").split("@")[0].rsplit(":", 1)[0]
    if image.rsplit("/", 1)[-1] != "shoplab":
        return None
    words = [w for w in container.get("command", []) + container.get("args", []) if w != "shoplab"]
    words = [w for w in words if not w.startswith("-")]
    for sub, (role, listen) in ROLES.items():
        if tuple(words[: len(sub)]) == sub:
            return sub, role, listen
    return tuple(words[:2]), "unknown", None


def required_vars(sub, role, listen):
    """The variables a shoplab process with this role must get."""
    if role == "migrate":
        return {"DATABASE_URL"}
    need = set()
    for var in known_vars():
        if var in LISTEN or var in ALTERNATIVES or var in FORBIDDEN or var in CLI_ONLY:
            continue
        if var == "SHOPLAB_ADMIN_TOKEN" and role != "api":
            continue  # only the APIs serve admin routes
        if var == "AUTH_JWT_SECRET" and sub[0] != "auth":
            continue  # only auth signs and checks tokens
        need.add(var)
    return need | ({listen} if listen else set())


def env_of(container, config_maps):
    """{name: env entry} of a container, entries from envFrom ConfigMaps included."""
    env = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef", {}).get("name")
        for key, value in (config_maps.get(ref) or {}).items():
            env[key] = {"name": key, "value": value}
        if "secretRef" in source:
            env["<envFrom secretRef>"] = {}
    for entry in container.get("env") or []:
        env[entry["name"]] = entry
    return env


def env_problems(container, config_maps):
    """(check, why) for everything wrong with a container's environment (empty when it is right)."""
    env = env_of(container, config_maps)
    problems = [p for e in env.values() for p in secret_ref_problems(e)]
    if "<envFrom secretRef>" in env:
        problems.append(("env", "envFrom secretRef hides which variables are set; use env with secretKeyRef"))
    found = role_of(container)
    if found is None:
        return problems
    return problems + [("env", p) for p in shoplab_env_problems(container, env, *found)]


def shoplab_env_problems(container, env, sub, role, listen):
    if role == "unknown":
        return [f"`shoplab {' '.join(sub)}` is not a role .ci/k8s/shoplab_rules.py knows"]
    need = sorted(required_vars(sub, role, listen))
    problems = [f"{v} is not set" for v in need if v not in env and ALTERNATIVES_OF.get(v, "") not in env]
    problems += [f"{v} must not be set in a cluster" for v in sorted(FORBIDDEN & env.keys())]
    literal = [v for v in sorted(SECRET_VARS & env.keys()) if "value" in env[v]]
    problems += [f"{v} is a literal; it must come from a Secret" for v in literal]
    if listen and listen in env:
        problems += listen_problems(container, listen, env[listen].get("value", ""))
    return problems


ALTERNATIVES_OF = {target: alt for alt, target in ALTERNATIVES.items()}


def listen_problems(container, var, value):
    """A process in a container must listen on every interface, on a port the pod declares."""
    ports = {p["containerPort"] for p in container.get("ports", [])}
    match = re.fullmatch(r"0\.0\.0\.0:(\d+)", value)
    if not match:
        return [f"{var}={value!r}: must be 0.0.0.0:PORT inside a container"]
    if int(match.group(1)) not in ports:
        return [f"{var}={value!r}: port is not among the container's ports {sorted(ports)}"]
    return []


def secret_ref_problems(entry):
    ref = entry.get("valueFrom", {}).get("secretKeyRef")
    if ref is None:
        return []
    if ref.get("key") not in SECRET_KEYS.get(ref.get("name"), set()):
        source = f"{ref.get('name')}/{ref.get('key')}"
        return [("secret-refs", f"{entry['name']} reads {source}, not a documented Secret key")]
    return []


def repo_findings(docs):
    """Checks tying the rendered lab to the repository's files (only where those objects are rendered)."""
    config_maps = {d["metadata"]["name"].rsplit("-", 1)[0]: d for d in docs if d["kind"] == "ConfigMap"}
    if "grafana-dashboards" in config_maps:
        dashboards = sorted((REPO / "grafana/dashboards").glob("*.json"))
        yield from missing_files(config_maps["grafana-dashboards"], dashboards, "grafana-dashboards")
        yield from datasource_uids(config_maps.get("grafana-datasources"))
    if "k6-scripts" in config_maps:
        scripts = sorted((REPO / "k6").glob("*.js")) + sorted((REPO / "k6/lib").glob("*.js"))
        yield from missing_files(config_maps["k6-scripts"], scripts, "k6-scripts")
        yield from k6_mounts(docs, scripts)


def missing_files(config_map, files, name):
    keys = set(config_map.get("data", {}))
    for f in files:
        key = f.name if f.parent.name != "lib" else f"lib-{f.name}"
        if key not in keys:
            yield "lab-files", f"{f.relative_to(REPO)} is not in ConfigMap {name} (overlays' kustomization.yaml)"
        elif config_map["data"][key] != f.read_text():
            yield "lab-files", f"ConfigMap {name} key {key} differs from {f.relative_to(REPO)}"


def k6_mounts(docs, scripts):
    """Each k6 CronJob mounts every script where the scripts import it from (lib/ under lib/)."""
    want = {str(f.relative_to(REPO / "k6")) for f in scripts}
    for obj in docs:
        if obj["kind"] != "CronJob":
            continue
        spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for vol in spec.get("volumes", []):
            if vol.get("configMap", {}).get("name", "").startswith("k6-scripts"):
                paths = {i["path"] for i in vol["configMap"].get("items", [])}
                for path in sorted(want - paths):
                    yield "lab-files", f"CronJob/{obj['metadata']['name']}: k6/{path} is not mounted"


def datasource_uids(config_map):
    """The lab's datasources must keep the uids the dashboards refer to."""
    repo = yaml.safe_load((REPO / "grafana/provisioning/datasources/datasources.yaml").read_text())
    want = {(d["uid"], d["type"]) for d in repo["datasources"]}
    have = set()
    if config_map is not None:
        for text in config_map.get("data", {}).values():
            have |= {(d["uid"], d["type"]) for d in yaml.safe_load(text).get("datasources", [])}
    for uid, kind in sorted(want - have):
        yield "lab-files", f"datasource uid {uid} ({kind}) of grafana/provisioning is not in the lab's datasources"
