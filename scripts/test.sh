#!/usr/bin/env bash
# The full test suite, as root: style and lints, Rust unit and integration tests on real
# namespaces, header freshness, the command, then the C ABI through an installed libnsmon
# (pkg-config) under valgrind, the header as C++, the C examples, the Go bindings, and the Python
# bindings (installed into a fresh virtual environment, pytest on real namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
scripts/deps.sh

step() { printf '\n=== %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --quiet

step "Rust tests (unit, real namespaces, command, header freshness)"
cargo test --locked

step "install into a temporary prefix"
work=$(mktemp -d /tmp/nsmon-t-ctest.XXXXXX)
trap 'rm -rf "$work"' EXIT
scripts/install.sh "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" LD_LIBRARY_PATH="$work/prefix/lib"
readelf -d "$work/prefix/lib/libnsmon.so" | grep -q 'SONAME.*libnsmon.so.0' \
    || { echo "libnsmon.so lacks SONAME libnsmon.so.0" >&2; exit 1; }
cflags=(-std=c11 -g -Wall -Wextra -Werror -pedantic)

step "C test under valgrind (shared library, through pkg-config)"
# shellcheck disable=SC2046 # pkg-config output is meant to split
cc "${cflags[@]}" tests/c/watcher_test.c -o "$work/watcher_test" $(pkg-config --cflags --libs nsmon)
# shellcheck disable=SC2046
cc "${cflags[@]}" tests/c/nsid_test.c -o "$work/nsid_test" $(pkg-config --cflags --libs nsmon)
# shellcheck disable=SC2046
cc "${cflags[@]}" tests/c/stream_test.c -o "$work/stream_test" $(pkg-config --cflags --libs nsmon)
# shellcheck disable=SC2046
cc "${cflags[@]}" tests/c/abi_matrix.c -o "$work/abi_matrix" $(pkg-config --cflags --libs nsmon)
# shellcheck disable=SC2046
cc "${cflags[@]}" tests/c/inventory_test.c -o "$work/inventory_test" $(pkg-config --cflags --libs nsmon)
for test in abi_matrix watcher_test nsid_test stream_test inventory_test; do
    valgrind -q --suppressions=tests/c/valgrind.supp --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 "$work/$test"
done

step "C tests under AddressSanitizer, LeakSanitizer and UBSan (gcc's runtime)"
for test in abi_matrix watcher_test nsid_test stream_test inventory_test; do
    # shellcheck disable=SC2046
    cc -std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
        -Wall -Wextra -Werror "tests/c/$test.c" -o "$work/asan_$test" $(pkg-config --cflags --libs nsmon)
    ASAN_OPTIONS=detect_leaks=1 "$work/asan_$test"
done

step "C test linked statically against libnsmon.a"
# shellcheck disable=SC2046
cc "${cflags[@]}" tests/c/watcher_test.c -o "$work/watcher_test_static" \
    $(pkg-config --cflags nsmon) -L"$work/prefix/lib" -Wl,-Bstatic -lnsmon -Wl,-Bdynamic \
    $(pkg-config --static --libs-only-l nsmon | sed 's/-lnsmon//')
! ldd "$work/watcher_test_static" | grep -q libnsmon || { echo "static link used the .so" >&2; exit 1; }
"$work/watcher_test_static"

step "header as C++ (g++ -Wall -Wextra -Werror -pedantic)"
# shellcheck disable=SC2046
g++ -std=c++17 -Wall -Wextra -Werror -pedantic tests/c/header_cxx.cpp -o "$work/header_cxx" \
    $(pkg-config --cflags --libs nsmon)
"$work/header_cxx"

step "C example (examples/watch.c) builds and reports"
# shellcheck disable=SC2046
cc "${cflags[@]}" examples/watch.c -o "$work/watch" $(pkg-config --cflags --libs nsmon)
mkdir "$work/dir" && touch "$work/dir/first"
mount --bind /proc/self/ns/net "$work/dir/first"   # an nsfs entry, as `ip netns add` makes
trap 'umount "$work/dir/first" 2>/dev/null || true; rm -rf "$work"' EXIT
timeout 2 "$work/watch" "$work/dir" > "$work/watch.out" 2>&1 || true
grep -qx '+ first' "$work/watch.out" || { echo "examples/watch.c printed:"; cat "$work/watch.out"; exit 1; } >&2

# Runs a follow example ($1) while a namespace is created, given a bridge and deleted; its output
# must contain each further argument, with @NS@ standing for the namespace's name.
follow_ns="nsmon-t-follow-$$"
trap 'ip netns del "$follow_ns" 2>/dev/null || true; umount "$work/dir/first" 2>/dev/null || true; rm -rf "$work"' EXIT
check_follow() {
    local program=$1 out="$work/$(basename "$1").out" pid want
    shift
    "$program" > "$out" 2>&1 &
    pid=$!
    sleep 0.5
    ip netns add "$follow_ns"
    sleep 0.3
    ip -n "$follow_ns" link add nsmon-fex type bridge
    sleep 0.5
    ip netns del "$follow_ns"
    # Until every expected line is there (at most 5 s): a fixed pause lost the race under load.
    local tries=0 missing
    while [ $tries -lt 50 ]; do
        missing=0
        for want in "$@"; do
            grep -qF -e "${want//@NS@/$follow_ns}" "$out" || missing=1
        done
        [ $missing -eq 0 ] && break
        sleep 0.1; tries=$((tries + 1))
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    for want in "$@"; do
        want=${want//@NS@/$follow_ns}
        grep -qF -e "$want" "$out" || { echo "$program lacks '$want':"; cat "$out"; exit 1; } >&2
    done
}

step "C example (examples/follow.c) follows a namespace created while it runs"
# shellcheck disable=SC2046
cc "${cflags[@]}" examples/follow.c -o "$work/follow" $(pkg-config --cflags --libs nsmon)
check_follow "$work/follow" "+ namespace /var/run/netns/@NS@ (id " \
    "[/var/run/netns/@NS@] new link nsmon-fex" "- namespace /var/run/netns/@NS@"

step "Go bindings: gofmt, go vet, go test -race (real namespaces), the example, a static link"
(
    cd bindings/go
    # Go's build cache does not key on what pkg-config prints, so a package built against an
    # earlier run's (deleted) temporary prefix would be reused; these variables are keyed on.
    export CGO_CFLAGS="-g -O2 -I$work/prefix/include" CGO_LDFLAGS="-g -O2 -L$work/prefix/lib"
    unformatted=$(gofmt -l .)
    [ -z "$unformatted" ] || { echo "gofmt: $unformatted" >&2; exit 1; }
    go vet ./...
    go test -race -count=1 ./...
    go build -o "$work/follow-go" ./examples/follow
    go build -tags nsmon_static -o "$work/follow-go-static" ./examples/follow
)
! ldd "$work/follow-go-static" | grep -q libnsmon || { echo "-tags nsmon_static used the .so" >&2; exit 1; }
check_follow "$work/follow-go" "[@NS@] following" "[@NS@] new_link link" "nsmon-fex kind=bridge" "[@NS@] gone"
check_follow "$work/follow-go-static" "[@NS@] following" "nsmon-fex kind=bridge" "[@NS@] gone"

step "Python bindings: pip install into a fresh venv (builds libnsmon), pytest (real namespaces)"
# Debian's interpreter, pytest, setuptools and wheel (deps.sh): the same on every machine, and no
# PyPI (--no-index). The build reuses cargo's target directory, so it only links what changed.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
pywork=$(mktemp -d /tmp/nsmon-t-py.XXXXXX)
trap 'rm -rf "$pywork"; ip netns del "$follow_ns" 2>/dev/null || true; umount "$work/dir/first" 2>/dev/null || true; rm -rf "$work"' EXIT
"$py" -m venv --system-site-packages "$pywork/venv"
"$pywork/venv/bin/pip" install -q --no-build-isolation --no-index ./bindings/python
# From the temporary folder, so that the installed package is the one imported.
tests="$PWD/bindings/python/tests"
(cd "$pywork" && "$pywork/venv/bin/python" -m pytest -p no:cacheprovider -q "$tests")

step "all tests passed"
