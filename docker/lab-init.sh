#!/bin/sh
# One-shot init of the Docker lab (the `lab-init` service of docker-compose.yml), run by every `up`:
#
# 1. Creates the lab's secrets, once, in the `lab-secrets` volume (mounted at /run/shoplab):
#      admin-token             bearer token for the admin routes (services: SHOPLAB_ADMIN_TOKEN_FILE)
#      jwt-secret              auth's token signing key (AUTH_JWT_SECRET_FILE)
#      rabbitmq-password       password of the broker's `shoplab` user (also the management UI login)
#      amqp-url                AMQP_URL with that password (the image's entrypoint reads AMQP_URL_FILE)
#      grafana-admin-password  Grafana's `admin` password (GF_SECURITY_ADMIN_PASSWORD__FILE)
#    Files that exist are kept, so every later `up` sees the same values; `docker compose down -v`
#    deletes them with the other volumes. Nothing secret is printed.
# 2. Hands Tempo's data volume to Tempo's user (uid 10001): the image runs without root, and a new
#    named volume belongs to root.
#
# Runs as root in an image the lab already has (any POSIX shell with head, od and tr would do). The
# files are readable by every user inside the volume: only the lab's containers mount it, and each
# reads them as its own user (shoplab 10001, RabbitMQ 999, Grafana 472, k6 12345).
set -eu
# Overridable only so .ci/lab/selftest.py can run this script against a scratch directory.
dir=${LAB_SECRETS_DIR:-/run/shoplab}
tempo_dir=${LAB_TEMPO_DIR:-/var/tempo}
umask 022
mkdir -p "$dir"
chmod 0755 "$dir"

# 64 hex characters (256 bits): safe in a URL, a header and a config file without escaping.
random_hex() {
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# put NAME VALUE: writes $dir/NAME (no trailing newline) unless it already has content.
put() {
    [ -s "$dir/$1" ] && return 0
    printf '%s' "$2" >"$dir/$1.tmp"
    chmod 0444 "$dir/$1.tmp"
    mv "$dir/$1.tmp" "$dir/$1"
    echo "lab-init: created $dir/$1"
}

put admin-token "$(random_hex)"
put jwt-secret "$(random_hex)"
put rabbitmq-password "$(random_hex)"
put amqp-url "amqp://shoplab:$(cat "$dir/rabbitmq-password")@rabbitmq:5672/%2f"
put grafana-admin-password "$(random_hex)"

if [ -d "$tempo_dir" ]; then
    chown 10001:10001 "$tempo_dir"
fi
echo "lab-init: done"
