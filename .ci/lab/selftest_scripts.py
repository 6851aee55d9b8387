"""Tests of the lab's own scripts, run by selftest.py: docker/lab-init.sh (secrets created once, kept on
every later run, readable, unguessable), docker/entrypoint.sh (AMQP_URL_FILE becomes AMQP_URL unless
AMQP_URL is set; a missing file stops the container without printing any secret), and the k6 scripts'
admin token (SHOPLAB_ADMIN_TOKEN, else SHOPLAB_ADMIN_TOKEN_FILE; the chaos scenario exists only with one).
They run the scripts with the machine's /bin/sh, as the containers do with theirs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SECRETS = ("admin-token", "jwt-secret", "rabbitmq-password", "amqp-url", "grafana-admin-password")


def run_sh(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ROOT / script), *args], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], **(env or {})})


class LabInitTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.env = {"LAB_SECRETS_DIR": str(self.tmp / "secrets"), "LAB_TEMPO_DIR": str(self.tmp / "absent")}

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_creates_each_secret_once_and_keeps_it(self):
        first = run_sh("docker/lab-init.sh", env=self.env)
        self.assertEqual(first.returncode, 0, first.stderr)
        values = {n: (self.tmp / "secrets" / n).read_text() for n in SECRETS}
        self.assertEqual(first.stdout.count("created"), len(SECRETS))
        second = run_sh("docker/lab-init.sh", env=self.env)
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(second.stdout.count("created"), 0)
        self.assertEqual(values, {n: (self.tmp / "secrets" / n).read_text() for n in SECRETS})

    def test_secrets_are_random_readable_and_never_printed(self):
        out = run_sh("docker/lab-init.sh", env=self.env).stdout
        other = Path(tempfile.mkdtemp())
        try:
            run_sh("docker/lab-init.sh", env={**self.env, "LAB_SECRETS_DIR": str(other)})
            for name in ("admin-token", "jwt-secret", "rabbitmq-password", "grafana-admin-password"):
                value = (self.tmp / "secrets" / name).read_text()
                self.assertRegex(value, r"^[0-9a-f]{64}$")
                self.assertNotEqual(value, (other / name).read_text())
                self.assertNotIn(value, out)
                self.assertEqual((self.tmp / "secrets" / name).stat().st_mode & 0o777, 0o444)
        finally:
            shutil.rmtree(other)
        password = (self.tmp / "secrets" / "rabbitmq-password").read_text()
        self.assertEqual((self.tmp / "secrets" / "amqp-url").read_text(),
                         f"amqp://shoplab:{password}@rabbitmq:5672/%2f")


class EntrypointTest(unittest.TestCase):
    PRINT = ["sh", "-c", 'printf "%s|%s" "${AMQP_URL-unset}" "${AMQP_URL_FILE-unset}"']

    def test_file_becomes_the_variable_unless_it_is_set(self):
        with tempfile.NamedTemporaryFile("w", suffix=".url") as f:
            f.write("amqp://shoplab:s3cret@rabbitmq:5672/%2f")
            f.flush()
            got = run_sh("docker/entrypoint.sh", *self.PRINT, env={"AMQP_URL_FILE": f.name})
            self.assertEqual(got.stdout, "amqp://shoplab:s3cret@rabbitmq:5672/%2f|unset")
            got = run_sh("docker/entrypoint.sh", *self.PRINT, env={"AMQP_URL_FILE": f.name, "AMQP_URL": "amqp://x"})
            self.assertEqual(got.stdout, "amqp://x|unset")
        self.assertEqual(run_sh("docker/entrypoint.sh", *self.PRINT).stdout, "unset|unset")

    def test_missing_file_stops_with_one_clear_line(self):
        got = run_sh("docker/entrypoint.sh", "true", env={"AMQP_URL_FILE": "/nonexistent/amqp-url"})
        self.assertEqual(got.returncode, 1)
        self.assertIn("AMQP_URL_FILE=/nonexistent/amqp-url is not a readable file", got.stderr)


class K6AdminTokenTest(unittest.TestCase):
    def scenarios(self, env: dict[str, str]) -> list[str]:
        args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        got = subprocess.run(["k6", "inspect", *args, str(ROOT / "k6/case3-auth.js")],
                             capture_output=True, text=True, check=True)
        return sorted(json.loads(got.stdout)["scenarios"])

    def test_chaos_scenario_needs_a_token_from_the_variable_or_the_file(self):
        if not shutil.which("k6"):
            self.skipTest("k6 is not installed (.ci/run installs it)")
        with tempfile.NamedTemporaryFile("w") as f:
            f.write("0123abcd")
            f.flush()
            self.assertEqual(self.scenarios({}), ["auth"])
            self.assertEqual(self.scenarios({"SHOPLAB_ADMIN_TOKEN": "t"}), ["auth", "provider_chaos"])
            self.assertEqual(self.scenarios({"SHOPLAB_ADMIN_TOKEN_FILE": f.name}), ["auth", "provider_chaos"])
            # explicitly empty wins over the file: no token, no chaos
            self.assertEqual(self.scenarios({"SHOPLAB_ADMIN_TOKEN": "", "SHOPLAB_ADMIN_TOKEN_FILE": f.name}),
                             ["auth"])
            self.assertEqual(self.scenarios({"ADMIN_TOKEN": "t"}), ["auth"])  # the old name is gone

