#!/usr/bin/env bash
# Runs nsmon's cargo-fuzz targets, each for SECONDS (default 60), from the checked-in seed
# corpus (fuzz/corpus/TARGET, real kernel messages: cargo run --example capture_corpus), and
# prints each target's last status line (executions, coverage). New inputs go to fuzz/work/,
# crashes to fuzz/artifacts/TARGET/ (make each a regression test in tests/fuzz_regressions.rs).
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: scripts/fuzz.sh 0 --list)
# Needs the nightly toolchain (or RUSTC_BOOTSTRAP=1) and cargo-fuzz (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
seconds=${1:-60}
shift || true
targets=(netlink_datagram rtnetlink_message nsid_payload listen_all_nsid_control inotify_events name)
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${targets[@]}"; exit 0; fi
[ $# -gt 0 ] && targets=("$@")
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
toolchain=+nightly
rustup run nightly true 2>/dev/null || { toolchain=; export RUSTC_BOOTSTRAP=1; }
cd fuzz
for target in "${targets[@]}"; do
    mkdir -p "work/$target" "corpus/$target"
    echo "=== $target, ${seconds}s"
    cargo $toolchain fuzz run "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 2> "work/$target.log" || {
        tail -40 "work/$target.log"; echo "$target: FAILED (see fuzz/artifacts/$target)"; exit 1; }
    grep -E '^#[0-9]+[[:space:]]+DONE' "work/$target.log" | tail -1
    grep -E 'stat::number_of_executed_units|stat::peak_rss' "work/$target.log" | tr '\n' ' '; echo
done
