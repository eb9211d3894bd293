# What a fresh Debian machine lacks to build tapeserver, run its demo and
# run its tests; sourced by scripts/test, scripts/demo and scripts/bench,
# so any of them can be the first command run on a bare machine.
# `setup_machine` installs what is missing and puts cargo on the PATH.

setup_machine() {
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

    # C and C++ compilers: libzmq and SQLite are built from source by their crates.
    # The peers the tests check tapeserver against, which no one here wrote:
    # sg3-utils (sg_decode_sense), tgt (tgtd: an iSCSI changer and tape drives),
    # libiscsi (the iSCSI transport loads it; its headers check our layout of
    # its structures), mtx (drives the emulated library), sdparm, and systemd's
    # unit checker (systemd-analyze verify).
    missing=()
    command -v cc >/dev/null 2>&1 || missing+=(gcc)
    # libzmq built with libsodium (CURVE), linked instead of the zmq crate's own
    # copy, which has no CURVE (see .cargo/config.toml).
    [ -f /usr/include/zmq.h ] || missing+=(libzmq3-dev pkg-config)
    command -v c++ >/dev/null 2>&1 || missing+=(g++)
    command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
    command -v sg_decode_sense >/dev/null 2>&1 || missing+=(sg3-utils)
    command -v tgtd >/dev/null 2>&1 || missing+=(tgt)
    command -v iscsi-ls >/dev/null 2>&1 || missing+=(libiscsi-bin)
    [ -f /usr/include/iscsi/iscsi.h ] || missing+=(libiscsi-dev)
    command -v mtx >/dev/null 2>&1 || missing+=(mtx)
    command -v sdparm >/dev/null 2>&1 || missing+=(sdparm)
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    # groff renders every man page in the tests (src/cli/docs.rs).
    command -v groff >/dev/null 2>&1 || missing+=(groff)
    # A real terminal for tpstat --watch (tests/tpstat_watch.rs).
    command -v tmux >/dev/null 2>&1 || missing+=(tmux)
    # A fresh Debian root for the package's install test (tests/package.rs).
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    # That root booted under its own systemd (tests/package_boot).
    command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
    # libfaketime: a host whose clock is wrong (tests/site_clock.rs).
    command -v faketime >/dev/null 2>&1 || missing+=(faketime)
    # PostgreSQL: the shared scheduler's suite runs against a throwaway server.
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
    # A WLCG Tape REST API client under Debian's own python3 (gfal2 with its
    # HTTP plugin: tests/gateway_gfal2.rs), and openssl to hash the gateway's
    # CA into a directory davix reads.
    /usr/bin/python3 -c 'import gfal2' >/dev/null 2>&1 || missing+=(python3-gfal2)
    ls /usr/lib/*/gfal2-plugins/libgfal_plugin_http.so >/dev/null 2>&1 || missing+=(gfal2-plugin-http)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi

    # Peers in Python: a stager generated from proto/ by Google's protoc
    # (grpcio-tools), speaking pyzmq (tests/python_client.rs), and the
    # Prometheus client's OpenMetrics parser (tests/metrics.rs).
    if ! python3 -c 'import zmq, google.protobuf, grpc_tools, prometheus_client' >/dev/null 2>&1; then
        echo "== installing pyzmq, protobuf, grpcio-tools and prometheus_client for python3"
        if ! python3 -m pip --version >/dev/null 2>&1; then
            as_root apt-get update -qq
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
        fi
        python3 -m pip install -q pyzmq protobuf grpcio-tools prometheus_client 2>/dev/null \
            || python3 -m pip install -q --break-system-packages pyzmq protobuf grpcio-tools prometheus_client
    fi

    # The Rust toolchain (edition 2024 needs Rust >= 1.85).
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
    if ! command -v cargo >/dev/null 2>&1; then
        echo "== installing the Rust toolchain"
        if apt-cache show rustup >/dev/null 2>&1; then
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustup
            rustup default stable
        else
            curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
            . "$HOME/.cargo/env"
        fi
    fi
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
}
