"""Checks of docker-compose.yml as a room uses it (part of `validate.py static`): `docker compose pull`
never asks a registry for the locally built image, re-running `up` never reseeds, every health check
runs a command its image has, and no published default credential opens the lab.
Each check takes the parsed compose file and returns a list of problems (empty = pass)."""

from __future__ import annotations

import re

from checks_image import runtime_commands
from labfiles import ROOT

# Grafana's Postgres datasource logs in as this role (migrations/0050_lab_grafana_reader.sql).
READER_ROLE = "shoplab_grafana"

# Commands each pinned third-party image is known to have, and where that was read. An image not listed
# here fails the health check check until someone looks inside it and adds it.
IMAGE_COMMANDS: dict[str, set[str]] = {
    # official Debian-based images: the server's client tools are on PATH
    "postgres:15": {"pg_isready", "psql", "sh"},
    "redis:7.2": {"redis-cli", "sh"},
    "rabbitmq:3.13-management": {"rabbitmq-diagnostics", "rabbitmqctl", "sh", "cat"},
    # Alpine: busybox applets
    "nginx:1.27.5-alpine": {"wget", "sh"},
    # quay.io/prometheus/busybox base: busybox applets (lab-init runs its shell too)
    "prom/prometheus:v3.5.0": {"wget", "sh", "/bin/sh", "head", "od", "tr", "chown"},
    # gcr.io/distroless/static-debian12:debug: busybox under /busybox only, no /bin/sh. Tempo removed
    # busybox from its images after 2.8.2 (grafana/tempo pull requests 5717 and 7410): re-check on upgrade.
    "grafana/tempo:2.8.2": {"/busybox/wget", "/busybox/sh", "/busybox/chown"},
    "grafana/grafana:12.1.1": set(),
    "grafana/k6:1.1.0": {"k6"},
}


def _services(compose):
    return compose.get("services", {})


def built_images(compose) -> set[str]:
    return {s["image"] for s in _services(compose).values() if "build" in s and s.get("image")}


def check_pull_policy(compose):
    """`docker compose pull` stops at an image it can neither pull nor build: the image a service builds
    must be `pull_policy: build` there and `never` wherever it is only run."""
    problems, built = [], built_images(compose)
    for name, svc in _services(compose).items():
        policy = svc.get("pull_policy")
        if "build" in svc and policy != "build":
            problems.append(f"{name}: builds {svc.get('image')} but pull_policy is {policy!r}, not 'build'")
        elif "build" not in svc and svc.get("image") in built and policy != "never":
            problems.append(f"{name}: runs the locally built {svc['image']} with pull_policy {policy!r}, "
                            "not 'never' (`docker compose pull` would fail on it)")
        elif svc.get("image") not in built and policy in ("build", "never"):
            problems.append(f"{name}: {svc.get('image')} comes from a registry, pull_policy {policy} prevents it")
    return problems


def _command_text(svc) -> str:
    parts = [svc.get("entrypoint") or [], svc.get("command") or []]
    return " ".join(p if isinstance(p, str) else " ".join(map(str, p)) for p in parts)


def _one_shot(svc) -> bool:
    return str(svc.get("restart", "no")) == "no"


def check_one_shot_jobs(compose):
    """Every `up` (also `--scale`, `run k6`) starts the one-shot jobs again: they must be safe to re-run.
    A job that seeds does so only into an empty database, and a job that migrates waits for Postgres."""
    problems = []
    for name, svc in _services(compose).items():
        text = _command_text(svc)
        if not _one_shot(svc):
            continue
        if re.search(r"\bshoplab seed\b", text) and "--if-empty" not in text:
            problems.append(f"{name}: runs `shoplab seed` without --if-empty, so every `up` reseeds")
        if re.search(r"\bshoplab migrate\b", text) and not re.search(r"migrate --wait \d+s", text):
            problems.append(f"{name}: runs `shoplab migrate` without --wait, racing Postgres's first start")
    for name, svc in _services(compose).items():
        deps = svc.get("depends_on") or {}
        for dep in deps if isinstance(deps, (dict, list)) else []:
            job = _services(compose).get(dep, {})
            if _one_shot(job) and re.search(r"\bseed\b", _command_text(job)) and "--if-empty" not in _command_text(job):
                problems.append(f"{name}: depends on {dep}, a one-shot job that reseeds")
    return problems


def _health_command(test) -> tuple[str | None, bool]:
    """(command, needs a shell) of a compose healthcheck test."""
    if isinstance(test, str):
        return test.split()[0] if test.split() else None, True
    if not test or test[0] == "NONE":
        return None, False
    if test[0] == "CMD-SHELL":
        return (test[1].split() or [None])[0], True
    return (test[1] if len(test) > 1 else None), False


def check_healthcheck_commands(compose):
    problems, built = [], built_images(compose)
    for name, svc in _services(compose).items():
        test = (svc.get("healthcheck") or {}).get("test")
        command, shell = _health_command(test)
        if command is None:
            continue
        image = svc.get("image", "")
        have = runtime_commands() if image in built else IMAGE_COMMANDS.get(image)
        if have is None:
            problems.append(f"{name}: no record of the commands in {image}; check the image and add it to "
                            "IMAGE_COMMANDS in .ci/lab/checks_compose.py")
            continue
        if command not in have:
            problems.append(f"{name}: health check runs {command!r}, which {image} does not have")
        if command == "pg_isready" and "-h" not in (test if isinstance(test, list) else str(test).split()):
            problems.append(f"{name}: pg_isready without -h asks the Unix socket, which the first start's "
                            "temporary server already answers: check over TCP")
        if shell and not {"sh", "/bin/sh"} & have:
            problems.append(f"{name}: CMD-SHELL health check, but {image} has no /bin/sh")
    return problems


def entrypoint_file_vars() -> set[str]:
    """VAR_FILE names the image's entrypoint (docker/entrypoint.sh) turns into VAR."""
    text = (ROOT / "docker/entrypoint.sh").read_text()
    match = re.search(r"^for var in ([\w ]+); do", text, re.M)
    return {f"{v}_FILE" for v in match.group(1).split()} if match else set()


def _env(svc) -> dict[str, str | None]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def _secret_problems(name, env) -> list[str]:
    problems = []
    for var in ("SHOPLAB_ADMIN_TOKEN", "AUTH_JWT_SECRET"):
        if env.get(var) is not None:
            problems.append(f"{name}: {var}={env[var]!r}: leave it without a value (passed on from the shell "
                            f"only when set there) and give {var}_FILE")
    if "AMQP_URL" in env and re.search(r"//guest:guest@", env["AMQP_URL"] or ""):
        problems.append(f"{name}: AMQP_URL uses guest/guest")
    return problems


def check_no_default_credentials(compose):
    """No published default grants writes: admin token, JWT secret, broker and Grafana admin passwords
    come from files the lab generates; Grafana's anonymous users only view; Prometheus has no lifecycle API."""
    s, problems = _services(compose), []
    for name, svc in s.items():
        problems += _secret_problems(name, _env(svc))
    rabbit, rabbit_cmd = _env(s.get("rabbitmq", {})), _command_text(s.get("rabbitmq", {}))
    if rabbit.get("RABBITMQ_DEFAULT_USER") in (None, "guest") or "/run/shoplab/rabbitmq-password" not in rabbit_cmd:
        problems.append("rabbitmq: needs RABBITMQ_DEFAULT_USER (not guest) and its password from the generated "
                        "/run/shoplab/rabbitmq-password")
    if "RABBITMQ_DEFAULT_PASS" in rabbit:
        problems.append("rabbitmq: RABBITMQ_DEFAULT_PASS in the environment publishes the password")
    grafana = _env(s.get("grafana", {}))
    if "GF_SECURITY_ADMIN_PASSWORD__FILE" not in grafana or "GF_SECURITY_ADMIN_PASSWORD" in grafana:
        problems.append("grafana: admin's password should come from GF_SECURITY_ADMIN_PASSWORD__FILE")
    if grafana.get("GF_AUTH_ANONYMOUS_ORG_ROLE") not in (None, "Viewer"):
        problems.append(f"grafana: anonymous users get {grafana['GF_AUTH_ANONYMOUS_ORG_ROLE']}, at most Viewer")
    if any("--web.enable-lifecycle" in str(a) for a in s.get("prometheus", {}).get("command", [])):
        problems.append("prometheus: --web.enable-lifecycle lets anyone reload or stop it over HTTP")
    return problems


COMPOSE_CHECKS = [
    ("pull_policy: build-only images are never pulled", check_pull_policy),
    ("one-shot jobs are safe to re-run on every up", check_one_shot_jobs),
    ("every health check runs a command its image has", check_healthcheck_commands),
    ("no published default credential", check_no_default_credentials),
]
