#!/usr/bin/env python3
"""Tests of the Kubernetes policy checks themselves.

A check that silently stops finding anything would let every manifest pass, so each one must fail on
fixtures/broken.yaml with the reason it was written for; and the environment rules must accept the
alternatives they promise (`*_FILE`) and reject a shoplab subcommand they do not know.

    python3 .ci/k8s/selftest.py
"""

import copy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import policy  # noqa: E402
import shoplab_rules  # noqa: E402

# (check, a substring its failure on the fixture must contain)
EXPECTED = [
    ("image-pinned", "'shoplab:latest' is not pinned"),
    ("probes", "no livenessProbe"),
    ("resources", "no limits for cpu, memory"),
    ("non-root", "runAsNonRoot is not true"),
    ("read-only-root", "readOnlyRootFilesystem is not true"),
    ("capabilities", "must drop ALL"),
    ("shutdown", "preStop sleeps 40 s of a 30 s grace period"),
    ("env", "REDIS_URL is not set"),
    ("env", "DATABASE_URL is a literal"),
    ("env", "SHOPLAB_LAB must not be set"),
    ("env", "PRODUCT_ADDR='127.0.0.1:8081': must be 0.0.0.0:PORT"),
    ("secret-refs", "shoplab-secrets/admin, not a documented Secret key"),
    ("config-refs", "reads ConfigMap shoplab-config, which is not rendered"),
    ("service-targets", "Service/product: targetPort web is not a port of the selected pods"),
    ("service-targets", "Service/auth: selects no rendered pod template"),
    ("api-versions", "policy/v1beta1, expected policy/v1"),
    ("no-secrets", "Secret/shoplab-secrets"),
    ("hpa-target", "scales Deployment/analytics, which is not rendered"),
    ("hpa-target", "Deployment/product sets replicas; leave them to the HPA"),
    ("hpa-target", "no PodDisruptionBudget selects the pods of Deployment/product"),
    ("lab-files", "grafana/dashboards/case2-analytics.json is not in ConfigMap grafana-dashboards"),
    ("lab-files", "datasource uid tempo (tempo) of grafana/provisioning is not in"),
]

# A correct auth relay container: every variable set, secrets from Secrets.
GOOD_RELAY = {
    "name": "auth-relay",
    "image": "shoplab:0.1.0",
    "command": ["shoplab", "auth", "relay"],
    "ports": [{"name": "metrics", "containerPort": 9101}],
    "env": [{"name": "METRICS_ADDR", "value": "0.0.0.0:9101"}, {"name": "OTEL_SERVICE_NAME", "value": "auth-relay"}]
    + [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}
        for var, name, key in [
            ("DATABASE_URL", "shoplab-backends", "database-url"),
            ("REDIS_URL", "shoplab-backends", "redis-url"),
            ("AMQP_URL", "shoplab-backends", "amqp-url"),
            ("AUTH_JWT_SECRET", "shoplab-secrets", "jwt-secret"),
        ]
    ],
}
NOT_IN_CONFIG = shoplab_rules.SECRET_VARS | shoplab_rules.LISTEN
CONFIG = {"shoplab-config": {v: "x" for v in shoplab_rules.known_vars() if v not in NOT_IN_CONFIG}}
for var in shoplab_rules.FORBIDDEN | set(shoplab_rules.ALTERNATIVES) | shoplab_rules.CLI_ONLY | {"OTEL_SERVICE_NAME"}:
    CONFIG["shoplab-config"].pop(var, None)
GOOD_RELAY["envFrom"] = [{"configMapRef": {"name": "shoplab-config"}}]


def problems(container):
    return [msg for _, msg in shoplab_rules.env_problems(container, CONFIG)]


def test_fixture_fails_every_check():
    results = policy.run(policy.load([HERE / "fixtures/broken.yaml"]))
    silent = [c for c in shoplab_rules.CHECKS if not results.get(c)]
    assert not silent, f"checks that found nothing in the broken fixture: {silent}"
    for check, text in EXPECTED:
        assert any(text in m for m in results[check]), f"{check}: no failure mentions {text!r}: {results[check]}"


def test_good_container_passes():
    assert problems(GOOD_RELAY) == [], problems(GOOD_RELAY)


def test_secret_file_is_an_alternative():
    c = copy.deepcopy(GOOD_RELAY)
    c["env"] = [e for e in c["env"] if e["name"] != "AUTH_JWT_SECRET"]
    c["env"].append({"name": "AUTH_JWT_SECRET_FILE", "value": "/run/secrets/jwt"})
    assert problems(c) == [], problems(c)
    c["env"] = [e for e in c["env"] if e["name"] != "AUTH_JWT_SECRET_FILE"]
    assert problems(c) == ["AUTH_JWT_SECRET is not set"], problems(c)


def test_worker_needs_no_admin_token_but_its_port():
    c = copy.deepcopy(GOOD_RELAY)
    assert "SHOPLAB_ADMIN_TOKEN" not in {e["name"] for e in c["env"]}
    c["ports"] = [{"name": "metrics", "containerPort": 9999}]
    assert any("not among the container's ports" in p for p in problems(c)), problems(c)


def test_unknown_subcommand_fails():
    c = copy.deepcopy(GOOD_RELAY)
    c["command"] = ["shoplab", "auth", "janitor"]
    assert problems(c) == ["`shoplab auth janitor` is not a role .ci/k8s/shoplab_rules.py knows"], problems(c)


def test_other_images_are_not_shoplab():
    elsewhere = {"image": "registry.example.com/team/shoplab:1.2.3", "command": ["shoplab", "product"]}
    assert shoplab_rules.role_of(elsewhere)[1] == "api"
    assert shoplab_rules.role_of({"image": "grafana/k6:1.1.0", "command": ["k6", "run"]}) is None


def test_pinning():
    pinned = ["shoplab:0.1.0", "prom/prometheus:v3.5.0", "rabbitmq:3.13.7-management", "postgres:15.13"]
    pinned.append("x@sha256:" + "a" * 64)
    loose = ["shoplab", "shoplab:latest", "redis:alpine", "registry:5000/shoplab"]
    assert all(policy.PINNED.search(i) for i in pinned), [i for i in pinned if not policy.PINNED.search(i)]
    assert not any(policy.PINNED.search(i) for i in loose), [i for i in loose if policy.PINNED.search(i)]


def main():
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_")]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok {name}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {name}: {e}")
    print(f"k8s selftest: {len(tests) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
