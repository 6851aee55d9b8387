#!/usr/bin/env python3
"""Tests of the lab checks themselves: the PromQL reader, the /metrics reader, and that `validate.py
static` passes on the repository and fails, naming the problem, on a copy with one thing broken; plus
the lab's scripts (selftest_scripts.py).

    python3 .ci/lab/selftest.py        # ends with "selftest: N passed, M failed"
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

LAB = Path(__file__).resolve().parent
ROOT = LAB.parent.parent
sys.dont_write_bytecode = True  # no __pycache__ next to the checks in the work tree
sys.path.insert(0, str(LAB))

import promql_refs  # noqa: E402
import validate  # noqa: E402
from selftest_scripts import EntrypointTest, K6AdminTokenTest, LabInitTest  # noqa: E402,F401 (run below)


class PromqlRefsTest(unittest.TestCase):
    def test_selectors_grouping_and_template_variables(self):
        refs = promql_refs.references(
            'histogram_quantile(0.95, sum by (route, le) (rate(http_server_request_duration_seconds_bucket'
            '{service="product", route=~"$route"}[$__rate_interval])))')
        self.assertEqual(refs.metrics, {"http_server_request_duration_seconds_bucket"})
        self.assertEqual(refs.grouping, {"route", "le"})
        self.assertIn(("route", "=~", ".*"), refs.selectors[0].matchers)

    def test_functions_keywords_and_vector_matching_are_not_metrics(self):
        refs = promql_refs.references(
            '(sum(rate(a_total{x="1"}[5m] offset 1h)) or vector(0)) / on (service) group_left (pool) b '
            'and bool c unless max(d) by (job)')
        self.assertEqual(refs.metrics, {"a_total", "b", "c", "d"})
        self.assertEqual(refs.grouping, {"service", "pool", "job"})

    def test_substitute_interval_and_regex_variables(self):
        self.assertEqual(promql_refs.substitute('rate(x{a=~"${svc}"}[$__rate_interval])'),
                         'rate(x{a=~".*"}[1m])')

    def test_label_values_variable(self):
        self.assertEqual(promql_refs.variable_selector({"query": "label_values(m{a=\"b\"}, route)"}),
                         'm{a="b"}')


class ExposedNamesTest(unittest.TestCase):
    PAGE = "\n".join([
        "# HELP shoplab_cache_requests Cache lookups.",
        "# TYPE shoplab_cache_requests counter",  # labelled, no lookups yet: no sample line
        "# TYPE http_server_request_duration_seconds histogram",
        'http_server_request_duration_seconds_bucket{le="0.1"} 3 # {trace_id="ab"} 0.05 1.7e9',
        "shoplab_outbox_pending 4",
        "# EOF"])

    def test_samples_and_types(self):
        names = validate.exposed_names(self.PAGE)
        self.assertIn("shoplab_cache_requests_total", names)
        self.assertIn("http_server_request_duration_seconds_count", names)
        self.assertIn("shoplab_outbox_pending", names)
        self.assertNotIn("shoplab_cache_requests_total_total", names)
        self.assertNotIn("shoplab_outbox", names)


# (file, text to replace, replacement, expected text in the FAIL lines)
MUTATIONS = [
    ("docker-compose.yml", "PRODUCT_ADDR: 0.0.0.0:8081", "PRODUCT_ADDR: 127.0.0.1:8081",
     "PRODUCT_ADDR should be 0.0.0.0:8081"),
    ("docker-compose.yml", "http://127.0.0.1:9104/readyz", "http://127.0.0.1:9999/readyz",
     "aggregator: healthcheck"),
    ("docker-compose.yml", "image: redis:7.2", "image: redis", "image 'redis' has no pinned tag"),
    ("docker-compose.yml", '    expose:\n      - "8083"\n', '    ports: ["8084:8083"]\n',
     "prevents `--scale analytics=3`"),
    ("docker-compose.yml", "      - --enable-feature=exemplar-storage\n", "",
     "lacks --enable-feature=exemplar-storage"),
    ("docker-compose.yml", "    profiles:", "    bogus: 1\n    profiles:", "does not match any of the regexes"),
    ("grafana/tempo.yaml", "endpoint: ${TEMPO_OTLP_HOST:-0.0.0.0}:4317", "endpoint: localhost:4317",
     "otlp grpc receiver"),
    ("grafana/tempo.yaml", "path: /var/tempo/wal", "path: /tmp/tempo/wal", "should lie on the tempo-data volume"),
    # docker compose pull, re-running up, health checks, credentials (checks_compose.py)
    ("docker-compose.yml", "    pull_policy: build\n", "", "pull_policy is 'never', not 'build'"),
    ("docker-compose.yml", "  pull_policy: never\n", "", "not 'never'"),
    ("docker-compose.yml", "shoplab seed --if-empty", "shoplab seed", "without --if-empty"),
    ("docker-compose.yml", "migrate --wait 60s", "migrate", "without --wait"),
    ("docker-compose.yml", '"shoplab", "health", "http://127.0.0.1:8081/readyz"',
     '"curl", "-fsS", "http://127.0.0.1:8081/readyz"', "health check runs 'curl'"),
    ("docker-compose.yml", '"/busybox/wget"', '"wget"', "which grafana/tempo:2.8.2 does not have"),
    ("docker-compose.yml", '"-h", "127.0.0.1", ', "", "pg_isready without -h"),
    ("Dockerfile", "/usr/local/bin/shoplab\n", "/opt/shoplab\n", "health check runs 'shoplab'"),
    ("docker-compose.yml", "  SHOPLAB_ADMIN_TOKEN:\n", "  SHOPLAB_ADMIN_TOKEN: ${SHOPLAB_ADMIN_TOKEN:-workshop-admin}\n",
     "leave it without a value"),
    ("docker-compose.yml", "GF_AUTH_ANONYMOUS_ORG_ROLE: Viewer", "GF_AUTH_ANONYMOUS_ORG_ROLE: Editor", "at most Viewer"),
    ("docker-compose.yml", "      - --web.enable-remote-write-receiver\n",
     "      - --web.enable-remote-write-receiver\n      - --web.enable-lifecycle\n", "--web.enable-lifecycle"),
    ("docker-compose.yml", "RABBITMQ_DEFAULT_USER: shoplab", "RABBITMQ_DEFAULT_USER: guest",
     "rabbitmq: needs RABBITMQ_DEFAULT_USER"),
    ("docker-compose.yml", "    condition: service_completed_successfully\n  migrate:", "  migrate:",
     "should depend on lab-init"),
    ("Dockerfile", "cargo chef cook --release", "cargo build --release", "no `cargo chef cook` layer"),
    ("Dockerfile", "ARG CARGO_BUILD_JOBS=default", "ARG JOBS=default", "CARGO_BUILD_JOBS is not a build argument"),
    ("Dockerfile", "USER 10001:10001\n", "USER 10001:10001\nENV RUST_LOG=info\n", "the image sets RUST_LOG"),
    ("Dockerfile", "USER 10001:10001\n", "USER root\n", "the final stage runs as root"),
    (".dockerignore", "!docker/entrypoint.sh\n", "", "COPY docker/entrypoint.sh: excluded by .dockerignore"),
    ("grafana/provisioning/datasources/datasources.yaml", "user: shoplab_grafana", "user: postgres",
     "read-only role shoplab_grafana"),
    ("grafana/provisioning/datasources/datasources.yaml", "        - name: traceID\n          datasourceUid: tempo\n",
     "", "name: traceID"),
    ("grafana/prometheus.yml", '"aggregator:9104"', '"aggregator:9105"', "job aggregator scrapes"),
    (".ci/lab/env-vars.txt", "RUST_LOG\n", "", "RUST_LOG is read by the binaries"),
    ("grafana/dashboards/case3-auth.json", "shoplab_email_send_total", "shoplab_email_sends_total",
     "shoplab_email_sends_total is not in the metrics contract"),
    ("grafana/dashboards/case1-product.json", 'result=\\"hit\\"', 'result=\\"hits\\"', "has no value 'hits'"),
    ("grafana/dashboards/case2-analytics.json", '"uid": "prometheus"', '"uid": "prom"',
     "uses datasource uid 'prom'"),
]


class StaticChecksTest(unittest.TestCase):
    def run_static(self, root: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(root / ".ci/lab/validate.py"), "static"],
                              capture_output=True, text=True)

    def test_repository_passes(self):
        result = self.run_static(ROOT)
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_each_mutation_is_caught(self):
        for rel, old, new, expected in MUTATIONS:
            with self.subTest(file=rel, expected=expected), tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp)
                for part in ("docker-compose.yml", "Dockerfile", ".dockerignore", "docker", "grafana", ".ci/lab",
                             "services/kit/src/flags/registry.rs"):
                    src = ROOT / part
                    (copy / part).parent.mkdir(parents=True, exist_ok=True)
                    (shutil.copytree if src.is_dir() else shutil.copy)(src, copy / part)
                target = copy / rel
                text = target.read_text()
                self.assertIn(old, text, f"mutation no longer applies to {rel}")
                target.write_text(text.replace(old, new, 1))
                result = self.run_static(copy)
                self.assertEqual(result.returncode, 1, result.stdout)
                self.assertIn(expected, result.stdout)


# Mixed mode, rendered by Compose v2 (check-configs.sh sets LAB_COMPOSE to the command it installed):
# (text in docker/compose.native.yml, replacement, expected text in the FAIL lines)
MIXED_MUTATIONS = [
    ("  prometheus:\n    network_mode: host\n", "  prometheus:\n", "prometheus: network_mode should be host"),
    ("    depends_on: !override\n", "    depends_on:\n", "postgres: the observability services depend on it"),
    ('  - "postgres:127.0.0.1"\n', "", "extra_hosts should map postgres to 127.0.0.1"),
    ("      TEMPO_OTLP_HOST: 127.0.0.1\n", "      TEMPO_OTLP_HOST: 0.0.0.0\n", "TEMPO_OTLP_HOST should be 127.0.0.1"),
]


class MixedModeTest(unittest.TestCase):
    def render(self, root: Path) -> Path:
        out = root / "rendered.json"
        cmd = os.environ["LAB_COMPOSE"].split() + [
            "--project-directory", str(root), "-f", str(root / "docker-compose.yml"),
            "-f", str(root / "docker/compose.native.yml"), "config", "--format", "json"]
        out.write_text(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        return out

    def run_mixed(self, root: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(LAB / "validate.py"), "mixed", str(self.render(root))],
                              capture_output=True, text=True)

    def test_mixed_mode_passes_and_each_mutation_is_caught(self):
        if not os.environ.get("LAB_COMPOSE"):
            self.skipTest("LAB_COMPOSE (a Compose v2 command) not set; .ci/lab/check-configs.sh sets it")
        for old, new, expected in [(None, None, None)] + MIXED_MUTATIONS:
            with self.subTest(expected=expected or "passes"), tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp)
                for part in ("docker-compose.yml", "docker", "grafana", ".ci/lab"):
                    src = ROOT / part
                    (shutil.copytree if src.is_dir() else shutil.copy)(src, copy / part)
                target = copy / "docker/compose.native.yml"
                if old is not None:
                    self.assertIn(old, target.read_text(), "mutation no longer applies")
                    target.write_text(target.read_text().replace(old, new, 1))
                result = self.run_mixed(copy)
                self.assertEqual(result.returncode, 1 if expected else 0, result.stdout)
                if expected:
                    self.assertIn(expected, result.stdout)


class CountingResult(unittest.TextTestResult):
    """Counts each subTest on its own, so the closing line reflects every mutation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed_count = 0
        self.failed_count = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed_count += 1

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is None:
            self.passed_count += 1
        else:
            self.failed_count += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.failed_count += 1

    def addError(self, test, err):
        super().addError(test, err)
        self.failed_count += 1


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(resultclass=CountingResult, verbosity=1).run(suite)
    print(f"selftest: {result.passed_count} passed, {result.failed_count} failed")
    sys.exit(0 if result.wasSuccessful() else 1)
