#!/usr/bin/env python3
"""Policy checks of rendered Kubernetes manifests (the output of `kubectl kustomize`).

Schema validation (kubernetes-validate) says an object is well formed; these checks say it is the
object we mean to run: every image pinned, every long-running container probed, bounded and locked
down, every environment variable the shoplab binaries read set for the process each container runs,
secrets only referenced, every ConfigMap and Service reference resolved, and the lab's ConfigMaps
holding every dashboard and k6 script of the repository. The shoplab-specific rules live in shoplab_rules.py.

    python3 .ci/k8s/policy.py RENDERED.yaml...

Prints one line per check (`ok NAME` or `FAIL NAME: reason`) and `k8s policy: N passed, M failed`;
exits non-zero when anything failed. selftest.py runs the same checks on fixtures/broken.yaml and
requires each of them to fail there.
"""

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shoplab_rules  # noqa: E402

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
# Jobs run to completion: a liveness or readiness probe means nothing there.
PROBED = {"Deployment", "StatefulSet", "DaemonSet"}
# A version tag (1.1.0, v3.5.0, 15.13, 3.13.7-management) or a digest; never latest, never no tag.
PINNED = re.compile(r"^[^@]+:v?\d+(\.\d+)*([-.+][\w.]+)?$|@sha256:[0-9a-f]{64}$")
API_VERSIONS = {"HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1"}


def load(paths):
    """Every non-empty YAML document of `paths`."""
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def pod_spec(obj):
    """The pod template's spec of a workload, or None."""
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec")


def containers(obj):
    """(where, container, is_init) for every container of a workload."""
    spec = pod_spec(obj) or {}
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    out = [(f"{name} init {c['name']}", c, True) for c in spec.get("initContainers", [])]
    return out + [(f"{name} {c['name']}", c, False) for c in spec.get("containers", [])]


def check_images(obj, spec):
    for where, c, _ in containers(obj):
        if not PINNED.search(c.get("image", "")):
            yield "image-pinned", f"{where}: image {c.get('image')!r} is not pinned to a version or digest"


def check_probes(obj, spec):
    if obj["kind"] not in PROBED:
        return
    for where, c, init in containers(obj):
        for probe in ("readinessProbe", "livenessProbe"):
            if not init and probe not in c:
                yield "probes", f"{where}: no {probe}"


def check_resources(obj, spec):
    for where, c, _ in containers(obj):
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            missing = [r for r in ("cpu", "memory") if r not in res.get(kind, {})]
            if missing:
                yield "resources", f"{where}: no {kind} for {', '.join(missing)}"


def check_security(obj, spec):
    pod_ctx = spec.get("securityContext", {})
    for where, c, _ in containers(obj):
        ctx = c.get("securityContext", {})
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if non_root is not True or ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            yield "non-root", f"{where}: runAsNonRoot is not true (or runAsUser is 0)"
        if ctx.get("readOnlyRootFilesystem") is not True:
            yield "read-only-root", f"{where}: readOnlyRootFilesystem is not true"
        if "ALL" not in ctx.get("capabilities", {}).get("drop", []) or ctx.get("allowPrivilegeEscalation") is not False:
            yield "capabilities", f"{where}: must drop ALL capabilities and set allowPrivilegeEscalation: false"


def check_shutdown(obj, spec):
    """preStop must fit inside the grace period, or the kubelet kills the pod before the drain starts."""
    grace = spec.get("terminationGracePeriodSeconds", 30)
    for where, c, _ in containers(obj):
        sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        if sleep >= grace:
            yield "shutdown", f"{where}: preStop sleeps {sleep} s of a {grace} s grace period"


def check_env(obj, spec, config_maps):
    for where, c, _ in containers(obj):
        for check, problem in shoplab_rules.env_problems(c, config_maps):
            yield check, f"{where}: {problem}"


def check_config_refs(obj, spec, config_maps):
    """Every ConfigMap a pod reads is rendered (kustomize rewrote the generated names)."""
    names = [v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v]
    for _, c, _ in containers(obj):
        names += [s["configMapRef"]["name"] for s in c.get("envFrom") or [] if "configMapRef" in s]
    for name in names:
        if name not in config_maps:
            where = f"{obj['kind']}/{obj['metadata']['name']}"
            yield "config-refs", f"{where}: reads ConfigMap {name}, which is not rendered"


def service_findings(docs):
    """Every Service selects the pods of some workload, on a port those pods declare."""
    pods = []
    for obj in docs:
        spec = pod_spec(obj) if obj["kind"] in WORKLOADS else None
        if spec is not None:
            outer = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
            tmpl = outer["template"]
            ports = {p.get("name") for c in spec["containers"] for p in c.get("ports", [])}
            ports |= {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
            pods.append((tmpl.get("metadata", {}).get("labels", {}), ports))
    for svc in (d for d in docs if d["kind"] == "Service"):
        selector = svc["spec"].get("selector", {})
        matched = [ports for labels, ports in pods if selector and selector.items() <= labels.items()]
        where = f"Service/{svc['metadata']['name']}"
        if not matched:
            yield "service-targets", f"{where}: selects no rendered pod template"
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            if matched and not any(target in ports for ports in matched):
                yield "service-targets", f"{where}: targetPort {target} is not a port of the selected pods"


WORKLOAD_CHECKS = (check_images, check_probes, check_resources, check_security, check_shutdown)


def workload_findings(docs):
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    for obj in docs:
        spec = pod_spec(obj) if obj["kind"] in WORKLOADS else None
        if spec is None:
            continue
        for check in WORKLOAD_CHECKS:
            yield from check(obj, spec)
        yield from check_env(obj, spec, config_maps)
        yield from check_config_refs(obj, spec, config_maps)


def object_findings(docs):
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for obj in docs:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in API_VERSIONS and obj["apiVersion"] != API_VERSIONS[kind]:
            yield "api-versions", f"{kind}/{name}: {obj['apiVersion']}, expected {API_VERSIONS[kind]}"
        if kind == "Secret":
            yield "no-secrets", f"Secret/{name}: secrets are created in the cluster, never committed"
        if kind == "HorizontalPodAutoscaler":
            yield from hpa_findings(obj, docs, names)


def hpa_findings(hpa, docs, names):
    """An HPA's target is rendered, leaves the replica count to it, and is covered by a policy/v1 PDB."""
    target = hpa["spec"]["scaleTargetRef"]
    where = f"HorizontalPodAutoscaler/{hpa['metadata']['name']}"
    if (target["kind"], target["name"]) not in names:
        yield "hpa-target", f"{where}: scales {target['kind']}/{target['name']}, which is not rendered"
        return
    workload = next(d for d in docs if (d["kind"], d["metadata"]["name"]) == (target["kind"], target["name"]))
    if "replicas" in workload["spec"]:
        # every apply would reset the count the HPA chose
        yield "hpa-target", f"{where}: {target['kind']}/{target['name']} sets replicas; leave them to the HPA"
    labels = workload["spec"]["template"]["metadata"].get("labels", {})
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget" and d["apiVersion"] == "policy/v1"]
    if not any(p["spec"].get("selector", {}).get("matchLabels", {}).items() <= labels.items() for p in pdbs):
        yield "hpa-target", f"{where}: no PodDisruptionBudget selects the pods of {target['kind']}/{target['name']}"


def run(docs):
    """{check: [failure, ...]} for every check (an empty list = passed)."""
    results = {name: [] for name in shoplab_rules.CHECKS}
    findings = [*workload_findings(docs), *object_findings(docs), *service_findings(docs)]
    for check, message in findings + list(shoplab_rules.repo_findings(docs)):
        results.setdefault(check, []).append(message)
    return results


def main(paths):
    results = run(load(paths))
    failed = 0
    for check, problems in results.items():
        if problems:
            failed += 1
            for p in problems:
                print(f"FAIL {check}: {p}")
        else:
            print(f"ok {check}")
    print(f"k8s policy: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
