#!/usr/bin/env bash
# Installs the system tools the test suite needs, when they are missing (Debian/Ubuntu, as
# root): ip/tc, mount, pkg-config, a C and C++ compiler, valgrind, readelf, Go, and Debian's
# Python 3 with venv, pip and pytest (the Python bindings' tests use /usr/bin/python3).
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v mount >/dev/null && command -v umount >/dev/null || need+=(mount)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v g++ >/dev/null || need+=(g++)
command -v valgrind >/dev/null || need+=(valgrind)
command -v readelf >/dev/null || need+=(binutils)
command -v go >/dev/null || need+=(golang-go)   # Go 1.19 on Debian 12: the Go bindings' tests
# Python 3.11 on Debian 12, with what a venv needs (ensurepip) and Debian's pytest, setuptools and
# wheel, so that the Python step installs the package without PyPI.
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)  # Debian ships it there
/usr/bin/python3 -c 'import pip' 2>/dev/null || need+=(python3-pip)
/usr/bin/python3 -c 'import setuptools, wheel' 2>/dev/null || need+=(python3-setuptools python3-wheel)
/usr/bin/python3 -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
command -v unshare >/dev/null || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "deps.sh: missing ${need[*]}; install them (as root: apt-get install ${need[*]})" >&2
    exit 1
fi
echo "deps.sh: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
