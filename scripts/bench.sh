#!/usr/bin/env bash
# nsmon beside its peers, as root: builds the consumers (a bare C reader, the C, Go and Rust
# consumers of libnsmon, and the command, installed with the library), then runs
# `cargo bench --bench compare`, which creates and removes its own nsmon- namespaces and prints
# one table. Extra arguments go to the harness (--quick: a fleet of 10 namespaces instead of
# 100, for a fast check). Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/deps.sh
work=$(mktemp -d /tmp/nsmon-b-tools.XXXXXX)
trap 'rm -rf "$work"' EXIT
scripts/install.sh "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" LD_LIBRARY_PATH="$work/prefix/lib"
cflags=(-std=c11 -O2 -Wall -Wextra -Werror)
cc "${cflags[@]}" benches/c/bare_reader.c -o "$work/bare_reader"
# shellcheck disable=SC2046 # pkg-config output is meant to split
cc "${cflags[@]}" benches/c/nsmon_count.c -o "$work/nsmon_count" $(pkg-config --cflags --libs nsmon)
# Go's build cache does not key on what pkg-config prints (a package built by an earlier run
# against its own, deleted, prefix would be reused); these variables are keyed on.
(cd bindings/go && CGO_CFLAGS="-g -O2 -I$work/prefix/include" CGO_LDFLAGS="-g -O2 -L$work/prefix/lib" \
    go build -o "$work/count-go" ./examples/count)
export NSMON_BENCH_BARE="$work/bare_reader" NSMON_BENCH_C="$work/nsmon_count" NSMON_BENCH_GO="$work/count-go" \
    NSMON_BENCH_CMD="$work/prefix/bin/nsmon"
uname -r
nproc
cargo bench --locked --bench compare -- "$@"
