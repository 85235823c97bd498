#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for the lab tests: `.ci/pg.sh start DIR` prints the exports to eval,
# `.ci/pg.sh stop DIR` stops it. Installs the distribution's server with apt-get when none is there.
set -euo pipefail
cmd=$1
dir=${2:-/tmp/simhw-pg}
port=${SIMHW_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    if [ -z "$(pgbin)" ]; then
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    bin=$(pgbin)
    rm -rf "$dir" && mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -A trust -U simhw >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >&2
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U simhw simhw >&2
    echo "export SIMHW_LAB_DSN=postgresql://simhw@127.0.0.1:$port/simhw"
    echo "export SIMHW_TEST_PG_DATA=$dir/data SIMHW_TEST_PG_BIN=$bin"
    ;;
  stop)
    bin=$(pgbin)
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    ;;
  *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac
