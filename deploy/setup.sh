#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine for callscript and its tests. Safe to run again,
# and quick when everything is already there. Runs as root (CI) or as a user with sudo.
#
#  1. Debian packages pip cannot install, only those missing: python3-venv, espeak-ng
#     (speech for <Speak>), redis-server (the tests start their own from this binary; no
#     Redis needs to be running), postgresql (the tests' second database).
#  2. PostgreSQL accepting connections on 127.0.0.1:5432: start the clusters apt created
#     (containers have no init system to do it), or create one if there is none.
#  3. A virtualenv in .venv with callscript and its test tools.
#  4. The tests' PostgreSQL login (postgresql://postgres@127.0.0.1:5432/postgres, or
#     $CALLSCRIPT_TEST_POSTGRES): left alone when it already works (trust, ~/.pgpass);
#     otherwise, if the postgres role has no password yet, one is generated, set, and
#     written to ~/.pgpass (mode 600), which libpq reads. A password already set is never
#     changed: the script says what to do instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG_HOST=127.0.0.1
PG_PORT=5432

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && sudo -u postgres "$@")
    fi
}
say() { echo "setup: $*" >&2; }

have_postgres_server() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

install_missing() {
    local missing=()
    command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=(python3-venv)  # Debian's python3 makes no virtualenv without it
    fi
    if [ -z "${CALLSCRIPT_TEST_POSTGRES:-}" ] && ! have_postgres_server; then
        missing+=(postgresql)
    fi
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing ${missing[*]} from the Debian packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

postgres_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

start_postgres() {
    [ -n "${CALLSCRIPT_TEST_POSTGRES:-}" ] && return 0  # the operator's own server
    postgres_ready && return 0
    local version cluster port status
    if [ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]; then
        version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
        say "creating PostgreSQL cluster $version/main"
        as_root pg_createcluster "$version" main >/dev/null
    fi
    while read -r version cluster port status _; do
        [ "$port" = "$PG_PORT" ] || continue
        case "$status" in
            online*) ;;
            *)
                say "starting PostgreSQL cluster $version/$cluster"
                as_root pg_ctlcluster "$version" "$cluster" start
                ;;
        esac
    done < <(pg_lsclusters --no-header)
    for _ in $(seq 1 60); do
        postgres_ready && return 0
        sleep 0.5
    done
    say "PostgreSQL is not accepting connections on $PG_HOST:$PG_PORT (see pg_lsclusters)"
    return 1
}

setup_venv() {
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
}

# Exit status 0 when the tests can log in to PostgreSQL, without ever prompting.
postgres_login_works() {
    .venv/bin/python - <<'PY'
import os, sys
import psycopg
url = os.environ.get("CALLSCRIPT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
try:
    psycopg.connect(url, connect_timeout=5).close()
except psycopg.Error as exc:
    print(f"setup: cannot log in to the tests' PostgreSQL: {str(exc).splitlines()[0]}",
          file=sys.stderr)
    sys.exit(1)
PY
}

give_postgres_a_password() {
    local has_password password pgpass="$HOME/.pgpass"
    has_password=$(as_postgres psql -XAtq -p "$PG_PORT" -d postgres \
        -c "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'postgres'") || return 1
    if [ "$has_password" = "t" ]; then
        say "the postgres role has a password this script does not know: add it to $pgpass"
        say "($PG_HOST:$PG_PORT:*:postgres:PASSWORD) or set CALLSCRIPT_TEST_POSTGRES"
        return 1
    fi
    password=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')
    # Through stdin, never on a command line (ps would show it).
    printf "ALTER ROLE postgres PASSWORD '%s';\n" "$password" \
        | as_postgres psql -XAtq -p "$PG_PORT" -d postgres >/dev/null || return 1
    touch "$pgpass" && chmod 600 "$pgpass"
    grep -v "^$PG_HOST:$PG_PORT:\*:postgres:" "$pgpass" >"$pgpass.new" || true
    printf '%s:%s:*:postgres:%s\n' "$PG_HOST" "$PG_PORT" "$password" >>"$pgpass.new"
    chmod 600 "$pgpass.new" && mv "$pgpass.new" "$pgpass"
    say "set a password for the postgres role, kept in $pgpass for the tests"
}

main() {
    install_missing
    start_postgres
    setup_venv
    if ! postgres_login_works; then
        [ -z "${CALLSCRIPT_TEST_POSTGRES:-}" ] || exit 1
        give_postgres_a_password
        postgres_login_works
    fi
}

# Sourcing the script (to try one step on a scratch cluster) defines the steps only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main
fi
