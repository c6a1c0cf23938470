#!/usr/bin/env bash
# User-space instructions per event on the library's event path, as root, counted by valgrind's
# callgrind (exact and repeatable, unlike CPU time): each consumer reads N route additions and N
# deletions from one nsmon- namespace, and a run of 2 events is subtracted, which leaves the
# start-up out. Consumers: the bare C reader (the floor), libnsmon from C (`next`, `batch`:
# nsmon_stream_next and _next_batch) and from Rust (`batch_ref`: next_batch_ref, typing
# nothing). Usage: scripts/callgrind.sh [N] (default 400; about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/deps.sh
n=${1:-400}
work=$(mktemp -d /tmp/nsmon-cg.XXXXXX)
ns=nsmon-cg-$$
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
scripts/install.sh "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" LD_LIBRARY_PATH="$work/prefix/lib"
cflags=(-std=c11 -O2 -Wall -Wextra -Werror)
cc "${cflags[@]}" benches/c/bare_reader.c -o "$work/bare_reader"
# shellcheck disable=SC2046 # pkg-config output is meant to split
cc "${cflags[@]}" benches/c/nsmon_count.c -o "$work/nsmon_count" $(pkg-config --cflags --libs nsmon)
rust=$(cargo bench --locked --bench compare --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*compare[^"]*\)".*/\1/p' | tail -1)
[ -x "$rust" ] || { echo "callgrind.sh: the Rust consumer did not build" >&2; exit 1; }

ip netns add "$ns"
ip -n "$ns" link add nsmon-cg type bridge
ip -n "$ns" link set nsmon-cg up
ip -n "$ns" addr add 198.51.100.1/24 dev nsmon-cg

# Instructions a consumer spends for `count` additions and as many deletions.
measure() {
    local count=$1 out=$work/out batch=$work/batch
    shift
    for i in $(seq 1 "$count"); do
        echo "203.0.113.$((i % 250 + 1))/32 dev nsmon-cg table $((100 + i / 250))"
    done >"$work/routes"
    { sed 's/^/route add /' "$work/routes"; sed 's/^/route del /' "$work/routes"; } >"$batch"
    : >"$out"
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" $((2 * count)) "$ns" \
        >"$out" 2>"$work/err" &
    local pid=$! waited=0
    until grep -q ready "$out"; do
        sleep 0.1
        waited=$((waited + 1))
        [ "$waited" -lt 600 ] || { echo "callgrind.sh: $1 never got ready" >&2; exit 1; }
    done
    sleep 0.3 # the subscription is in place when it says ready; let valgrind settle
    ip -n "$ns" -batch "$batch"
    wait "$pid"
    callgrind_annotate "$work/cg.out" 2>/dev/null |
        awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

per_event() {
    local name=$1 small big
    shift
    small=$(measure 1 "$@")
    big=$(measure "$n" "$@")
    printf '  %-46s %6d\n' "$name" $(((big - small) / (2 * n - 2)))
}

echo "user instructions per event ($((2 * n)) route events, minus a 2-event run):"
per_event "bare C reader (the floor)" "$work/bare_reader" $((1 << 20))
per_event "C, nsmon_stream_next" "$work/nsmon_count" next
per_event "C, nsmon_stream_next_batch" "$work/nsmon_count" batch
per_event "Rust, next_batch_ref (typing nothing)" "$rust" consume batch_ref
