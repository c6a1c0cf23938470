"""Fixtures for the nsmon tests: real namespaces (named ``nsmon-t-<pid>-<n>``, removed even
when a test fails), what a test needs (under CI=true a missing need fails the test instead of
skipping it), and helpers that wait for events without timing assertions (a deadline only
keeps a broken test from hanging)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional

import pytest

CI = os.environ.get("CI") == "true"
REPO = Path(__file__).resolve().parents[3]
PREFIX = f"nsmon-t-{os.getpid()}-"
_counter = itertools.count()


def need(condition: bool, why: str) -> None:
    """Skips the test when ``condition`` is false, or fails it under CI=true."""
    if not condition:
        if CI:
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``ip ARGS`` (bytes arguments allowed, for names that are not UTF-8)."""
    return subprocess.run(["ip", *args], check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def thread_netns() -> int:
    """The inode of the calling thread's network namespace."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def take_until(handle, match: Callable, deadline: float = 10.0) -> List:
    """The events of ``handle`` up to and including the first that ``match`` accepts; fails
    the test if none came within ``deadline`` seconds."""
    seen = []
    end = time.monotonic() + deadline
    while True:
        for ev in handle:
            seen.append(ev)
            if match(ev):
                return seen
        left = end - time.monotonic()
        if left <= 0:
            pytest.fail(f"no matching event within {deadline} s; saw {seen!r}")
        handle.wait(left)


@pytest.fixture(scope="session")
def root() -> None:
    """The tests make namespaces: they need root and ip(8)."""
    need(os.geteuid() == 0, "the tests need root (they create network namespaces)")
    need(shutil.which("ip") is not None, "the tests need ip(8) (iproute2)")


@pytest.fixture
def make_netns(root, request) -> Callable[[], str]:
    """Creates a named namespace (``nsmon-t-...``) and returns its name; each is deleted when
    the test ends, whatever the outcome."""

    def make(suffix: str = "") -> str:
        name = f"{PREFIX}{next(_counter)}{suffix}"
        ip("netns", "add", name)
        request.addfinalizer(lambda: ip("netns", "del", name, check=False))
        return name

    return make


@pytest.fixture
def netns(make_netns) -> str:
    """One fresh named namespace."""
    return make_netns()


@pytest.fixture
def tmpdir_nsmon(request) -> Path:
    """A fresh folder ``/tmp/nsmon-t-...``, removed (with any mount under it) at the end."""
    path = Path(tempfile.mkdtemp(prefix=f"nsmon-t-{os.getpid()}-"))

    def clean() -> None:
        for mount in sorted(_mounts_under(path), reverse=True):
            subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(path, ignore_errors=True)

    request.addfinalizer(clean)
    return path


def _mounts_under(path: Path) -> List[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point == str(path) or point.startswith(str(path) + "/"):
                out.append(point)
    return out


@pytest.fixture(autouse=True, scope="session")
def _no_leftovers():
    """After the whole run, no namespace of this run is left."""
    yield
    names = os.listdir("/var/run/netns") if os.path.isdir("/var/run/netns") else []
    left = [n for n in names if n.startswith(PREFIX)]
    for n in left:
        ip("netns", "del", n, check=False)
    assert not left, f"namespaces left behind: {left}"


@pytest.fixture
def unnamed_process(root, request) -> Callable[[], subprocess.Popen]:
    """Starts a process in a new, unnamed network namespace (``unshare -n``), ended with the
    test. It prints its pid's namespace inode once it is in it."""

    def start() -> subprocess.Popen:
        need(shutil.which("unshare") is not None, "unshare(1) is needed")
        proc = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "stat -Lc %i /proc/self/ns/net; exec sleep 60"],
            stdout=subprocess.PIPE,
        )
        request.addfinalizer(lambda: (proc.kill(), proc.wait()))
        line = proc.stdout.readline()
        assert line.strip().isdigit(), line
        proc.netns_ino = int(line)  # type: ignore[attr-defined]
        return proc

    return start


def cargo_version() -> Optional[str]:
    for line in (REPO / "Cargo.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    return None
