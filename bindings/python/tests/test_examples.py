"""The command (python -m nsmon) and the example (examples/follow.py), run as a user would
while a namespace is created, given a bridge and deleted."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

import nsmon

from conftest import REPO, ip

DEADLINE = 15


def key_of(netns_id: nsmon.NetnsId) -> str:
    return f"netns:{netns_id.id}" if netns_id.id is not None else f"inode:{netns_id.ino}"


class Output:
    """A child's stdout, line by line, as it comes."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines, self.cond = [], threading.Condition()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, want: str) -> str:
        """The first line containing ``want``; fails the test if none comes."""
        end = time.monotonic() + DEADLINE
        with self.cond:
            while True:
                for line in self.lines:
                    if want in line:
                        return line
                left = end - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no line with {want!r} in:\n" + "\n".join(self.lines))
                self.cond.wait(left)


def run(request, *args: str) -> Output:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    request.addfinalizer(stop)
    out = Output(proc)
    out.proc = proc  # type: ignore[attr-defined]
    return out


def create_and_delete(out: Output, make_netns, ready: str):
    out.wait_for(ready)
    name = make_netns()
    key = key_of(nsmon.identify(nsmon.named(name)))
    out.wait_for(f"+ {key}")
    ip("-n", name, "link", "add", "nsmon-fex", "type", "bridge")
    line = out.wait_for(f"[{key}] new_link")
    ip("netns", "del", name)
    out.wait_for(f"- {key}")
    return name, key, line


def test_python_m_nsmon_lists_and_follows(make_netns, request):
    host = key_of(nsmon.identify())
    listed = subprocess.run([sys.executable, "-m", "nsmon", "--list"], check=True, stdout=subprocess.PIPE, text=True, cwd="/")
    assert f"namespace {host} " in listed.stdout + " "
    out = run(request, "-m", "nsmon")
    name, key, line = create_and_delete(out, make_netns, "ready")
    assert "nsmon-fex kind=bridge" in out.wait_for(f"[{key}] new_link link")
    assert f"/netns/{name}" in out.wait_for(f"+ {key} ")
    out.proc.send_signal(signal.SIGTERM)
    assert out.proc.wait(DEADLINE) == 0  # SIGTERM ends it cleanly


def test_examples_follow_py(make_netns, request):
    example = REPO / "bindings" / "python" / "examples" / "follow.py"
    host = key_of(nsmon.identify())
    out = run(request, str(example))
    name, key, line = create_and_delete(out, make_netns, f"+ {host}")
    assert "nsmon-fex kind=bridge" in out.wait_for(f"[{key}] new_link nsmon-fex")
    assert f"/netns/{name}" in out.wait_for(f"+ {key} ")
    out.proc.send_signal(signal.SIGINT)
    assert out.proc.wait(DEADLINE) == 0
