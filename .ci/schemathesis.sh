#!/usr/bin/env bash
# Schemathesis (PyPI, pinned) against the OpenAPI document of every service and the console, on a lab of
# its own (.ci/openapi-lab.sh: fresh database, prefixes, ports shifted by OFFSET, default 3300).
# For a fixed number of generated examples per operation and a fixed seed (reproducible), every answer
# must be no 5xx, a status the document lists, the content type and headers it declares, and a body
# matching its schema. Prints one line of counts per run; reports in target/schemathesis/.
#
#   .ci/schemathesis.sh                       # SCHEMATHESIS_EXAMPLES=25 SCHEMATHESIS_SEED=1 OFFSET=3300
#
# Runs without credentials cover every operation (a route behind a token must then answer 401, as
# documented). Authenticated runs cover what a token unlocks without flipping the lab under the run:
# product's price update (admin token) and auth's /validate and /me/profile (a seeded user's access token);
# flag writes, presets and the console's k6 runs are left to their own tests. Builds nothing: expects
# target/debug/shoplab and the services (cargo build --workspace), python3 and a running
# Postgres/Redis/RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-25}
SEED=${SCHEMATHESIS_SEED:-1}
VERSION=4.32.5
out="$PWD/target/schemathesis"
venv="$PWD/target/schemathesis-venv"
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$VERSION"
fi

# shellcheck source=openapi-lab.sh
. .ci/openapi-lab.sh
trap lab_stop EXIT
rm -rf "$out/reports"
mkdir -p "$out/reports"
lab_start "$out/logs"

failed=0
# run NAME URL [schemathesis options...]: one run; its JSON report goes to $out/reports/NAME.json.
run() {
  local name=$1 url=$2
  shift 2
  local status=0
  # from $out: schemathesis keeps its replay cache (.schemathesis/) in the working directory
  (cd "$out" && "$venv/bin/schemathesis" run "$url" --checks "$checks" --max-examples "$EXAMPLES" --seed "$SEED" \
    --phases examples,coverage,fuzzing --request-timeout 20 --generation-database none --no-color \
    --report json --report-json-path "$out/reports/$name.json" "$@") >"$out/reports/$name.log" 2>&1 || status=$?
  python3 - "$name" "$out/reports/$name.json" "$status" <<'PY'
import json, sys
name, path, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    r = json.load(open(path))
except (OSError, ValueError):
    print(f"{name:<24} no report (exit {status})")
    sys.exit(0)
ops, cases = r["operations"], r["test_cases"]
failures = sum(f["count"] for f in r["failures"])
print(f"{name:<24} operations {ops['tested']:>2}/{ops['selected']:<2}  test cases {cases['generated']:>4}  "
      f"failures {failures}  errors {len(r['errors'])}  ({r['running_time']:.0f} s)")
for f in r["failures"]:
    print(f"  {f['code']} {f['title']}: {', '.join(f['operations'])}")
PY
  if [ "$status" -ne 0 ]; then
    failed=1
    echo "  details: $out/reports/$name.log"
  fi
}

echo "schemathesis $VERSION, $EXAMPLES examples per operation, seed $SEED; checks: $checks"
run product "$PRODUCT_URL/openapi.json"
run auth "$AUTH_URL/openapi.json"
run analytics "$ANALYTICS_URL/openapi.json"
run email-provider "$EMAIL_PROVIDER_URL/openapi.json"
run console "$CONSOLE_URL/api/openapi.json"

checks="$checks,ignored_auth"
run product-admin "$PRODUCT_URL/openapi.json" --include-path '/products/{id}/price' -H "Authorization: Bearer $ADMIN_TOKEN"
run console-admin "$CONSOLE_URL/api/openapi.json" --include-path /api/token -H "Authorization: Bearer $ADMIN_TOKEN"
login=$(curl -fsS -H 'content-type: application/json' -d '{"email":"user1@shoplab.test","password":"shoplab-pass"}' "$AUTH_URL/login" || true)
access=$(printf '%s' "$login" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("access_token", ""))' 2>/dev/null || true)
if [ -n "$access" ]; then
  run auth-user "$AUTH_URL/openapi.json" --include-path-regex '^/(validate|me/)' -H "Authorization: Bearer $access"
else
  echo "auth-user                could not log in as user1@shoplab.test: $login"
  failed=1
fi

[ "$failed" -eq 0 ] && echo "schemathesis: no failures" || echo "schemathesis: failures (reports in $out/reports)"
exit "$failed"
