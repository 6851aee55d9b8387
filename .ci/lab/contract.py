"""The parts of the shoplab contract the lab checks are written against: docs/architecture.md, "Metrics"
(and "Traces" for the service names) and "Configuration".

Keep this in step with docs/architecture.md: a metric or label added there and shown on a dashboard belongs here
too.
"""

from __future__ import annotations

# docs/architecture.md, "Metrics": metric -> (type, labels besides the constant `service` label every process adds).
# Counters are named with their exposed `_total` suffix; histograms by their base name.
METRICS: dict[str, tuple[str, set[str]]] = {
    "http_server_request_duration_seconds": ("histogram", {"method", "route", "status"}),
    "shoplab_db_queries_per_request": ("histogram", {"route"}),
    "shoplab_db_pool_connections": ("gauge", {"pool", "state"}),
    "shoplab_db_pool_acquire_seconds": ("histogram", {"pool"}),
    "shoplab_cache_requests_total": ("counter", {"cache", "result"}),
    "shoplab_flag_value": ("gauge", {"flag"}),
    "shoplab_outbox_pending": ("gauge", set()),
    "shoplab_email_send_total": ("counter", {"result"}),
    "shoplab_email_delivery_seconds": ("histogram", set()),
    "shoplab_circuit_breaker_state": ("gauge", {"dependency"}),
    "shoplab_rate_limited_total": ("counter", {"route"}),
    "shoplab_analytics_events_total": ("counter", {"stage"}),
    "shoplab_aggregator_lag_seconds": ("gauge", set()),
    "shoplab_coalesced_requests_total": ("counter", {"route"}),
    "shoplab_http_response_body_bytes_total": ("counter", {"route", "encoding"}),
    "shoplab_conditional_requests_total": ("counter", {"route", "result"}),
    "shoplab_load_shed_total": ("counter", {"route"}),
    "shoplab_hedged_requests_total": ("counter", {"outcome"}),
    "shoplab_provider_requests_total": ("counter", {"result"}),
    "shoplab_email_retries_total": ("counter", {"result"}),
    "shoplab_trace_roots_total": ("counter", {"decision"}),
}

# Labels every series has: the process's constant label, plus what Prometheus adds per target.
COMMON_LABELS = {"service", "instance", "job"}

# Label values fixed by docs/architecture.md, "Metrics" and "Traces" (service names); a dashboard matcher
# outside these is a typo.
LABEL_VALUES: dict[str, set[str]] = {
    "service": {"product", "auth", "analytics", "email-provider", "auth-relay", "email-worker",
                "analytics-relay", "aggregator"},
    "stage": {"ingested", "published", "aggregated", "dead_lettered"},
    "state": {"in_use", "idle", "max"},
    "pool": {"shared", "critical", "noncritical"},
    "dependency": {"email-provider"},
    "decision": {"sampled", "dropped"},
}
# `result` means different things on each metric that carries it.
RESULT_VALUES = {
    "shoplab_cache_requests_total": {"hit", "miss", "stale", "refresh"},
    "shoplab_email_send_total": {"sent", "failed", "retried", "dead_lettered", "short_circuited", "timed_out"},
    "shoplab_provider_requests_total": {"accepted", "duplicate", "failed", "invalid", "hung", "refused"},
    "shoplab_email_retries_total": {"retried", "budget_exhausted"},
    "shoplab_conditional_requests_total": {"not_modified", "modified"},
}

# Every flag name, read from the registry itself (services/kit/src/flags/registry.rs: `name: "..."` and
# `lever("...", ...)`), so a panel may match any flag the services know and this list cannot drift.
def _registry_flags() -> set[str]:
    import pathlib
    import re

    src = (pathlib.Path(__file__).resolve().parents[2] / "services/kit/src/flags/registry.rs").read_text()
    body = src[src.index("pub const FLAGS"):]
    body = body[: body.index("\n];")]
    return set(re.findall(r'(?:name: |lever\(\s*)"([a-z_]+\.[a-z0-9_]+)"', body))


FLAGS = _registry_flags()

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def series_names() -> dict[str, str]:
    """Every series name a dashboard may query -> the contract metric it belongs to."""
    out = {}
    for name, (kind, _) in METRICS.items():
        if kind == "histogram":
            out.update({name + suffix: name for suffix in HISTOGRAM_SUFFIXES})
        else:
            out[name] = name
    return out


def base_name(series: str) -> str:
    """The contract metric a series name belongs to (the name itself when unknown)."""
    return series_names().get(series, series)


def labels_of(series: str) -> set[str]:
    """Labels a series of this name may carry (histogram buckets add `le`)."""
    metric = base_name(series)
    labels = set(METRICS.get(metric, ("", set()))[1]) | COMMON_LABELS
    return labels | {"le"} if series.endswith("_bucket") else labels


# docs/architecture.md, "Configuration" and "Processes": variable -> default in code (None: no default).
ENV_DEFAULTS: dict[str, str | None] = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/shoplab",
    "REDIS_URL": "redis://127.0.0.1:6379",
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2f",
    "SHOPLAB_ADMIN_TOKEN": None,
    "PRODUCT_ADDR": "127.0.0.1:8081",
    "AUTH_ADDR": "127.0.0.1:8082",
    "ANALYTICS_ADDR": "127.0.0.1:8083",
    "EMAIL_PROVIDER_ADDR": "127.0.0.1:8090",
    "EMAIL_PROVIDER_URL": "http://127.0.0.1:8090",
    "METRICS_ADDR": None,  # per worker: 127.0.0.1:9101..9104, see ROLES
    "OTEL_EXPORTER_OTLP_ENDPOINT": None,
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_SERVICE_NAME": None,  # each process names itself (ROLES) unless told otherwise
    "OTEL_BSP_SCHEDULE_DELAY": "5000",
    "RUST_LOG": "info",
    "SHOPLAB_REDIS_PREFIX": "shoplab:",
    "SHOPLAB_AMQP_PREFIX": "shoplab",
    # Secrets: the variable, else the file it names (an explicitly set empty admin token disables writes).
    "SHOPLAB_ADMIN_TOKEN_FILE": None,
    "AUTH_JWT_SECRET": None,  # outside lab mode, missing or short refuses to start
    "AUTH_JWT_SECRET_FILE": None,
    "SHOPLAB_LAB": None,  # "1" = lab mode (set by `shoplab up` and compose)
}


class Role:
    """One kind of shoplab process: how it is started and what it needs from its environment."""

    def __init__(self, name, command, listen_var=None, port=None, needs=()):
        self.name, self.command, self.listen_var, self.port = name, command, listen_var, port
        # Variables without which the process cannot work in a container (a default on 127.0.0.1
        # points at the container itself, so it does not count as "set").
        self.needs = {"DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT", *needs}
        if listen_var:
            self.needs.add(listen_var)


ROLES = [
    Role("product", ("shoplab", "product"), "PRODUCT_ADDR", 8081, {"REDIS_URL", "SHOPLAB_ADMIN_TOKEN"}),
    Role("auth", ("shoplab", "auth", "serve"), "AUTH_ADDR", 8082,
         {"REDIS_URL", "AMQP_URL", "EMAIL_PROVIDER_URL", "SHOPLAB_ADMIN_TOKEN", "AUTH_JWT_SECRET"}),
    Role("analytics", ("shoplab", "analytics", "serve"), "ANALYTICS_ADDR", 8083,
         {"REDIS_URL", "AMQP_URL", "SHOPLAB_ADMIN_TOKEN"}),
    Role("email-provider", ("shoplab", "email-provider"), "EMAIL_PROVIDER_ADDR", 8090, {"SHOPLAB_ADMIN_TOKEN"}),
    Role("auth-relay", ("shoplab", "auth", "relay"), "METRICS_ADDR", 9101, {"AMQP_URL"}),
    Role("email-worker", ("shoplab", "auth", "email-worker"), "METRICS_ADDR", 9102,
         {"AMQP_URL", "EMAIL_PROVIDER_URL"}),
    Role("analytics-relay", ("shoplab", "analytics", "relay"), "METRICS_ADDR", 9103, {"AMQP_URL"}),
    Role("aggregator", ("shoplab", "analytics", "aggregator"), "METRICS_ADDR", 9104, {"REDIS_URL", "AMQP_URL"}),
]

# The one-shot job: `shoplab migrate --wait 60s && shoplab seed --if-empty`.
CLI_ROLE = Role("shoplab", ("shoplab",), needs={"REDIS_URL"})
CLI_ROLE.needs.discard("OTEL_EXPORTER_OTLP_ENDPOINT")

# Secrets a container may get from a file instead: VAR is "set" when VAR_FILE is (the binaries read
# these *_FILE variables themselves; AMQP_URL_FILE is read by the image's entrypoint, docker/entrypoint.sh).
FILE_VARIANTS = {"SHOPLAB_ADMIN_TOKEN", "AUTH_JWT_SECRET", "AMQP_URL"}


def role_for(command) -> Role | None:
    """The role a compose `command` starts (list or string form; `sh -c "shoplab ..."` is the CLI)."""
    words = command.split() if isinstance(command, str) else list(command or [])
    if words[:2] == ["sh", "-c"] and len(words) > 2:
        words = " ".join(words[2:]).split()
    for role in ROLES:
        if tuple(words[:len(role.command)]) == role.command:
            return role
    return CLI_ROLE if words[:1] == ["shoplab"] else None
