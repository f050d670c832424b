# Sourced by scripts/test and scripts/bench: makes sure a throwaway PostgreSQL
# cluster runs on loopback and exports INVOLVE_TEST_POSTGRES_URL for it.
#
# Installs PostgreSQL from Debian's packages when it is missing, creates the
# cluster once and reuses it while it runs. Settings (environment):
# INVOLVE_PG_PORT (55432), INVOLVE_PG_DIR (${TMPDIR:-/tmp}/involve-test-pg),
# INVOLVE_PG_STOP=1 to stop the cluster when the calling script exits.

port="${INVOLVE_PG_PORT:-55432}"
cluster="${INVOLVE_PG_DIR:-${TMPDIR:-/tmp}/involve-test-pg}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "scripts/test: need root (or sudo) to run: $*" >&2; exit 1; fi
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# 1. PostgreSQL server binaries, from Debian.
if [ -z "$(pg_bin)" ]; then
  echo "==> installing PostgreSQL from Debian's packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin="$(pg_bin)"

# initdb and postgres refuse to run as root: use the postgres account then.
run_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# 2. A throwaway cluster on loopback, reused when it is already up.
if ! run_pg "$bin/pg_ctl" -D "$cluster" status >/dev/null 2>&1; then
  if [ ! -f "$cluster/PG_VERSION" ]; then
    echo "==> creating a test cluster in $cluster" >&2
    mkdir -p "$cluster"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$cluster"
    run_pg "$bin/initdb" -D "$cluster" --auth=trust --username=postgres --encoding=UTF8 --no-instructions >/dev/null
  fi
  echo "==> starting PostgreSQL on 127.0.0.1:$port" >&2
  # Durability is pointless for a throwaway cluster; speed is not.
  run_pg "$bin/pg_ctl" -D "$cluster" -l "$cluster/server.log" -w -o \
    "-p $port -k $cluster -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
fi
if [ "${INVOLVE_PG_STOP:-0}" = 1 ]; then
  trap 'run_pg "$bin/pg_ctl" -D "$cluster" -m fast stop >/dev/null' EXIT
fi

export INVOLVE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"

# 3. Every test and benchmark makes a database of its own and leaves it (a failed
# test's data is worth a look). Reused clusters would fill the disk: databases
# untouched for an hour go, so another run sharing the cluster keeps its own.
"$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -At -c "
  SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE);', datname) FROM pg_database
  WHERE datname ~ '^involve_(test|bench)_'
    AND (pg_stat_file('base/' || oid)).modification < now() - interval '1 hour'" |
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres >/dev/null || true
