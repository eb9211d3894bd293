# Starts a throwaway PostgreSQL server for the tests: a fresh data
# directory owned by the server's user, trust authentication, listening on
# loopback only, fsync off (its data is thrown away). Source this file,
# then call `pg_start`; it exports TAPESERVER_TEST_PG (an admin URL) and
# registers `pg_stop` to run at exit. Debian's packages put the server
# programs under /usr/lib/postgresql/VERSION/bin.

pg_bindir() {
    local dir
    if command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
    done
    return 1
}

pg_start() {
    local bin port user
    bin=$(pg_bindir) || { echo "no PostgreSQL server found" >&2; return 1; }
    PG_DIR=$(mktemp -d /tmp/tapeserver-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    # initdb refuses to run as root: the server runs as its own user.
    if [ "$(id -u)" -eq 0 ]; then
        user=postgres
        chown "$user" "$PG_DIR"
        PG_AS=(runuser -u "$user" --)
    else
        user=$(id -un)
        PG_AS=()
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${PG_AS[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
    "${PG_AS[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -s start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    PG_BIN=$bin
    export TAPESERVER_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres"
    trap pg_stop EXIT
}

pg_stop() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -s stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}
