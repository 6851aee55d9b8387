#!/bin/sh
# Entrypoint of the shoplab image: lets a secret that the binaries read only from the environment come
# from a file instead (the `_FILE` convention of many official images), then runs the command.
#
#   AMQP_URL_FILE=/run/shoplab/amqp-url   ->  AMQP_URL=<the file's content>, unless AMQP_URL is set
#
# docker-compose.yml uses it for the broker URL, whose password docker/lab-init.sh generates per lab.
# The admin token and the JWT secret need no help here: the binaries read SHOPLAB_ADMIN_TOKEN_FILE and
# AUTH_JWT_SECRET_FILE themselves. Nothing is printed: the values are secrets.
set -eu

for var in AMQP_URL; do
    eval "file=\${${var}_FILE:-}"
    eval "already=\${${var}+set}"
    if [ -n "$file" ] && [ -z "$already" ]; then
        if [ ! -r "$file" ]; then
            echo "shoplab-entrypoint: ${var}_FILE=$file is not a readable file" >&2
            exit 1
        fi
        value=$(cat "$file")
        export "$var=$value"
    fi
    unset "${var}_FILE"
done

exec "$@"
