#!/usr/bin/env bash
# Builds libnsmon in release mode and installs it under a prefix:
#   PREFIX/lib/libnsmon.so.X.Y.Z (+ libnsmon.so.X, libnsmon.so links), PREFIX/lib/libnsmon.a,
#   PREFIX/include/nsmon.h, PREFIX/lib/pkgconfig/nsmon.pc (and nsmon-static.pc, which links
#   libnsmon.a: for Go's -tags nsmon_static), PREFIX/bin/nsmon.
# Usage: scripts/install.sh [PREFIX]   (default /usr/local; also honours $DESTDIR and
# $CARGO_TARGET_DIR)
# Afterwards: cc prog.c $(pkg-config --cflags --libs nsmon)   (for static: --static, and link
# libnsmon.a). With a prefix outside the loader's path, set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
# and LD_LIBRARY_PATH=PREFIX/lib, or run ldconfig for a system prefix.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${1:-/usr/local}
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
dest=${DESTDIR:-}
libdir="$prefix/lib"
# Where cargo puts what it builds (CARGO_TARGET_DIR when set).
built="${CARGO_TARGET_DIR:-target}/release"

# What a static link of libnsmon.a needs besides itself, as rustc reports it (probed first:
# the extra flag rebuilds the library, and the installed files must come from the plain build).
libs_private=$(cargo rustc --release --locked --lib --crate-type staticlib -- --print native-static-libs 2>&1 \
  | sed -n 's/.*native-static-libs: //p' | head -n1)
cargo build --release --locked --lib --bin nsmon
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
major=${version%%.*}
soname=$(readelf -d "$built/libnsmon.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ -n "$soname" ] || { echo "install.sh: libnsmon.so has no SONAME" >&2; exit 1; }

install -d "$dest$libdir/pkgconfig" "$dest$prefix/include" "$dest$prefix/bin"
install -m 0755 "$built/libnsmon.so" "$dest$libdir/libnsmon.so.$version"
ln -sfn "libnsmon.so.$version" "$dest$libdir/$soname"
ln -sfn "$soname" "$dest$libdir/libnsmon.so"
install -m 0644 "$built/libnsmon.a" "$dest$libdir/libnsmon.a"
install -m 0644 include/nsmon.h "$dest$prefix/include/nsmon.h"
install -m 0755 "$built/nsmon" "$dest$prefix/bin/nsmon"
for pc in nsmon nsmon-static; do
    sed -e "s|@PREFIX@|$prefix|" -e "s|@LIBDIR@|$libdir|" -e "s|@VERSION@|$version|" \
        -e "s|@LIBS_PRIVATE@|$libs_private|" "$pc.pc.in" > "$dest$libdir/pkgconfig/$pc.pc"
done
echo "installed nsmon $version (ABI $major) under $dest$prefix"
