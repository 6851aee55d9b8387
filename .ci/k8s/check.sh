#!/usr/bin/env bash
# Offline validation of deploy/k8s (no cluster): render every overlay with kustomize, validate every object
# against the Kubernetes API schemas of pinned versions (kubernetes-validate --strict), run the policy
# checks (policy.py) and their self-test, and require the broken fixture to fail both the schema
# validation and every policy check. Needs kubectl (kustomize v5 built in) and Python 3.
#
# KUBE_VERSIONS: the oldest version the manifests need (1.30: preStop `sleep` on by default) and a
# current one. PYTHON: the interpreter that has (or gets) .ci/k8s/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
KUBE_VERSIONS=${KUBE_VERSIONS:-1.30.0 1.35.0}
PYTHON=${PYTHON:-python3}
passed=0
failed=0
ok() { printf 'ok %s\n' "$1"; passed=$((passed + 1)); }
fail() { printf 'FAIL %s\n' "$1"; failed=$((failed + 1)); }

command -v kubectl >/dev/null || { echo "FAIL kubectl not found: install kubectl >= 1.27 (kustomize v5)"; exit 1; }
"$PYTHON" -m pip install -q -r .ci/k8s/requirements.txt
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# external applies with plain `kubectl apply -k`; lab and k6 read grafana/ and k6/ (docs/kubernetes.md)
render() {
  if kubectl kustomize "${@:3}" "$1" >"$out/$2.yaml" 2>"$out/$2.err"; then
    ok "render $1"
  else
    fail "render $1: $(cat "$out/$2.err")"
  fi
}
render deploy/k8s/overlays/external external
render deploy/k8s/overlays/lab lab --load-restrictor LoadRestrictionsNone
render deploy/k8s/k6 k6 --load-restrictor LoadRestrictionsNone
if kubectl kustomize deploy/k8s/overlays/lab >/dev/null 2>&1; then
  fail "lab renders without --load-restrictor: docs/kubernetes.md's command is out of date"
else
  ok "lab needs --load-restrictor LoadRestrictionsNone, as documented"
fi

for v in $KUBE_VERSIONS; do
  for f in "$out"/*.yaml; do
    # --quiet prints only problems; a kind without a schema is merely a warning there, and is one here
    # (no custom resources are used, so every object must have a schema)
    if report=$("$PYTHON" -m kubernetes_validate --strict --quiet -k "$v" "$f" 2>&1) && [ -z "$report" ]; then
      ok "schema $v $(basename "$f")"
    else
      fail "schema $v $(basename "$f"): $report"
    fi
  done
  report=$("$PYTHON" -m kubernetes_validate --strict --quiet -k "$v" .ci/k8s/fixtures/broken.yaml 2>&1 || true)
  if grep -q "'targetCPUUtilizationPercentage' was unexpected" <<<"$report" \
    && grep -q "Couldn't find schema for kind PodDisruptionBudget" <<<"$report"; then
    ok "schema $v rejects fixtures/broken.yaml (unknown field, removed API version)"
  else
    fail "schema $v did not report fixtures/broken.yaml's unknown field and removed API version: $report"
  fi
done

for f in external lab k6; do
  if "$PYTHON" .ci/k8s/policy.py "$out/$f.yaml" >"$out/$f.policy"; then
    ok "policy $f"
  else
    fail "policy $f"
    grep FAIL "$out/$f.policy" || true
  fi
done
# selftest.py checks each check's own reason; here only that the fixture fails as a whole
if "$PYTHON" .ci/k8s/policy.py .ci/k8s/fixtures/broken.yaml >/dev/null; then
  fail "policy accepted fixtures/broken.yaml"
else
  ok "policy rejects fixtures/broken.yaml"
fi
if "$PYTHON" .ci/k8s/selftest.py >"$out/selftest" 2>&1; then ok "selftest"; else fail "selftest"; cat "$out/selftest"; fi

echo "k8s: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
