#!/usr/bin/env bash
# Starts Postgres, Redis and RabbitMQ natively when they are not answering (CI machines and workshop
# laptops without Docker), then waits until each accepts connections. Makes sure Postgres preloads
# pg_stat_statements (the slow-query view: `shoplab top-queries`), restarting it only when it does not yet.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local name=$1 port=$2
  for _ in $(seq 1 60); do up "$port" && { echo "$name up on $port"; return 0; }; sleep 1; done
  echo "$name did not come up on port $port" >&2
  return 1
}

up 5432 || pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
up 6379 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log
up 5672 || rabbitmq-server -detached
wait_for postgres 5432
wait_for redis 6379
wait_for rabbitmq 5672

# ALTER SYSTEM keeps the libraries already listed; the restart happens once, on a server never configured.
# The test suite runs its tests in parallel, each with its own database and pools (up to ~300 connections
# at once), so a server still at Debian's 100 connections is raised to 500 in the same restart.
psql_q() { psql -h 127.0.0.1 -U postgres -d postgres -Atc "$1"; }
libs="$(psql_q 'show shared_preload_libraries')"
restart=0
case ",${libs// /}," in
  *,pg_stat_statements,*) echo "pg_stat_statements preloaded" ;;
  *) restart=1; psql_q "alter system set shared_preload_libraries = '${libs:+$libs,}pg_stat_statements'" >/dev/null ;;
esac
if [ "$(psql_q 'show max_connections')" -lt 500 ]; then
  restart=1; psql_q "alter system set max_connections = 500" >/dev/null
fi
if [ "$restart" = 1 ]; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main restart
    wait_for postgres 5432
  else
    echo "warning: restart Postgres to preload pg_stat_statements (shoplab top-queries) and allow 500 connections" >&2
  fi
fi
