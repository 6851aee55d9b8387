#!/usr/bin/env python3
"""Runs every shoplab container of a rendered manifest as a native process, the way its pod would.

No cluster here, so this is the nearest check of the container contract: each process gets only the
environment its manifest gives it (ConfigMaps, values, Secret references filled from this machine),
listens where the manifest says (ports shifted by --offset), answers its startup, readiness and
liveness probes with 200, and on SIGTERM exits 0 well inside its terminationGracePeriodSeconds.

    kubectl kustomize deploy/k8s/overlays/external > /tmp/ext.yaml
    python3 .ci/k8s/run-native.py /tmp/ext.yaml --bin-dir target/debug --offset 3200

Secrets come from this machine: database-url, redis-url and amqp-url from DATABASE_URL, REDIS_URL and
AMQP_URL (local defaults), admin-token and jwt-secret generated. Redis and AMQP prefixes are replaced by
`k8s-native` so a run never touches another lab's keys or queues. Prints `ok`/`FAIL` lines and a summary.

With --drain, the email provider is stopped while requests are in flight: its flags are set to the slow
mode (1 s per send, jittered; through `shoplab flags set`, so use a database of your own), 8 sends are
written, SIGTERM follows 0.5 s later, and every send must still be answered 202 before the process exits.
"""

import argparse
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import policy  # noqa: E402

SECRETS = {
    ("shoplab-backends", "database-url"): os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoplab"),
    ("shoplab-backends", "redis-url"): os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
    ("shoplab-backends", "amqp-url"): os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
    ("shoplab-secrets", "admin-token"): secrets.token_hex(32),
    ("shoplab-secrets", "jwt-secret"): secrets.token_hex(32),
}
ISOLATE = {
    "SHOPLAB_REDIS_PREFIX": "k8s-native:",
    "SHOPLAB_AMQP_PREFIX": "k8s-native",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "",
}


def shift(value, offset):
    """0.0.0.0:8081 -> 0.0.0.0:(8081 + offset)."""
    host, _, port = value.rpartition(":")
    return f"{host}:{int(port) + offset}" if port.isdigit() and host == "0.0.0.0" else value


def environment(container, config_maps, offset):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for source in container.get("envFrom") or []:
        env.update(config_maps.get(source.get("configMapRef", {}).get("name"), {}))
    for entry in container.get("env") or []:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = SECRETS[(ref["name"], ref["key"])] if ref else shift(entry.get("value", ""), offset)
    return {**env, **{k: v for k, v in ISOLATE.items() if k in env}}


def argv(container, bin_dir, subcommands):
    """The container's command for this machine: `shoplab X ...`, or the per-service binary X if this
    build's shoplab has no subcommand X."""
    cmd = container.get("command", []) + container.get("args", [])
    if cmd[0] == "shoplab" and len(cmd) > 1 and cmd[1] not in subcommands and (bin_dir / cmd[1]).exists():
        return [str(bin_dir / cmd[1]), *cmd[2:]]
    return [str(bin_dir / cmd[0]), *cmd[1:]]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status
    except Exception as e:  # noqa: BLE001 - any failure is "not 200" here
        return getattr(e, "code", None) or str(e)


def probe_url(container, probe, offset):
    http = container[probe]["httpGet"]
    port = http["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container["ports"] if p.get("name") == port)
    return f"http://127.0.0.1:{port + offset}{http['path']}"


def wait_started(proc, url, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode} before answering"
        if get(url) == 200:
            return None
        time.sleep(0.2)
    return f"no 200 from {url} within {timeout} s"


def run_one(name, container, spec, ctx):
    """Starts, probes and stops one container; yields (ok, message) lines."""
    env = environment(container, ctx.config_maps, ctx.offset)
    log = open(ctx.log_dir / f"{name}.log", "w")
    command = argv(container, ctx.bin_dir, ctx.subcommands)
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        problem = wait_started(proc, probe_url(container, "startupProbe", ctx.offset), 60)
        yield problem is None, f"{name}: started and answered its startup probe" + (f" ({problem})" if problem else "")
        if problem:
            return
        for probe in ("readinessProbe", "livenessProbe"):
            status = get(probe_url(container, probe, ctx.offset))
            yield status == 200, f"{name}: {probe} {probe_url(container, probe, ctx.offset)} -> {status}"
        if ctx.drain and name == "email-provider":
            yield from drain(name, proc, spec, container, ctx)
        else:
            yield from stop(name, proc, spec, container)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def send(port, sent, results):
    """POST /send; `sent` learns when the whole request is on the wire, `results` gets the status."""
    body = json.dumps({"to": "drain@shoplab.test", "subject": "drain", "body": "in flight at SIGTERM"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/send", body=body, headers={"Content-Type": "application/json"})
        sent.release()
        results.append(conn.getresponse().status)
    except Exception as e:  # noqa: BLE001 - a refused or cut request is counted as its error
        sent.release()
        results.append(type(e).__name__)
    finally:
        conn.close()


def drain(name, proc, spec, container, ctx):
    """SIGTERM with 8 slow sends in flight: all must get 202.

    Each send takes 0.75-1.25 s, 5 % of them 2-4 times as long (faults.rs), so 0.5 s after the last one is
    written every send is still running, and each ends within 4.5 s of SIGTERM: inside the 5 s the
    provider gives in-flight requests (serve.rs), which a longer send would exceed and be cut.
    """
    port = next(p["containerPort"] for p in container["ports"]) + ctx.offset
    sent, results = threading.Semaphore(0), []
    threads = [threading.Thread(target=send, args=(port, sent, results)) for _ in range(8)]
    for t in threads:
        t.start()
    for _ in threads:
        sent.acquire()
    time.sleep(0.5)
    yield from stop(name, proc, spec, container)
    for t in threads:
        t.join()
    accepted = results.count(202)
    others = [r for r in results if r != 202]
    yield not others, f"{name}: {accepted} of {len(threads)} sends in flight at SIGTERM answered 202 {others or ''}"


def set_flags(ctx, pairs):
    env = {**os.environ, "DATABASE_URL": SECRETS[("shoplab-backends", "database-url")]}
    for flag, value in pairs:
        command = [str(ctx.bin_dir / "shoplab"), "flags", "set", flag, value]
        subprocess.run(command, env=env, check=True, capture_output=True)


def stop(name, proc, spec, container):
    grace = spec.get("terminationGracePeriodSeconds", 30)
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    budget = grace - pre_stop
    try:
        code = proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        yield False, f"{name}: still running {budget} s after SIGTERM (grace {grace} s - preStop {pre_stop} s)"
        return
    took = time.monotonic() - started
    yield code == 0, f"{name}: SIGTERM -> exit {code} in {took:.1f} s (budget {budget} s after a {pre_stop} s preStop)"


class Ctx:
    def __init__(self, args, docs):
        self.bin_dir = Path(args.bin_dir).resolve()
        self.offset = args.offset
        self.drain = args.drain
        self.config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
        self.log_dir = Path(args.log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        help_text = subprocess.run([str(self.bin_dir / "shoplab"), "--help"], capture_output=True, text=True).stdout
        listed = help_text.split("Commands:")[-1].splitlines()
        self.subcommands = {line.split()[0] for line in listed if line.startswith("  ")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered")
    parser.add_argument("--bin-dir", default="target/debug")
    parser.add_argument("--offset", type=int, default=3200)
    parser.add_argument("--log-dir", default="/tmp/k8s-native-logs")
    parser.add_argument("--drain", action="store_true", help="stop the email provider with sends in flight")
    args = parser.parse_args()
    docs = policy.load([args.rendered])
    ctx = Ctx(args, docs)
    if ctx.drain:
        set_flags(ctx, [("emailprovider.latency_ms", "1000"), ("emailprovider.mode", "slow")])
    try:
        passed, failed = run_all(docs, ctx)
    finally:
        if ctx.drain:
            set_flags(ctx, [("emailprovider.mode", "healthy"), ("emailprovider.latency_ms", "50")])
    print(f"k8s run-native: {passed} passed, {failed} failed (logs in {ctx.log_dir})")
    return 1 if failed else 0


def run_all(docs, ctx):
    passed = failed = 0
    for obj in docs:
        if obj["kind"] != "Deployment":
            continue
        spec = policy.pod_spec(obj)
        for container in spec["containers"]:
            for good, message in run_one(obj["metadata"]["name"], container, spec, ctx):
                print(("ok " if good else "FAIL ") + message, flush=True)
                passed, failed = passed + good, failed + (not good)
    return passed, failed


if __name__ == "__main__":
    sys.exit(main())
