"""The ctypes mirror of the C ABI against the header itself: a C program compiled against
include/nsmon.h prints every struct's size and each field's offset and size, and every
constant the package copies; they must be what ctypes computes."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import nsmon
from nsmon import _abi

from conftest import REPO, need

CONSTANTS = {
    "NSMON_ERR_NULL": _abi.ERR_NULL,
    "NSMON_ERR_UTF8": _abi.ERR_UTF8,
    "NSMON_ERR_PANIC": _abi.ERR_PANIC,
    "NSMON_NETNS_CURRENT": _abi.NETNS_CURRENT,
    "NSMON_NETNS_NAME": _abi.NETNS_NAME,
    "NSMON_NETNS_PATH": _abi.NETNS_PATH,
    "NSMON_NETNS_PID": _abi.NETNS_PID,
    "NSMON_NETNS_FD": _abi.NETNS_FD,
    "NSMON_NSID_NOT_ASSIGNED": _abi.NSID_NOT_ASSIGNED,
    "NSMON_NSID_AUTO": _abi.NSID_AUTO,
    "NSMON_DEFAULT_RECEIVE_BUFFER": _abi.DEFAULT_RECEIVE_BUFFER,
    "NSMON_NAME_SIZE": _abi.NAME_SIZE,
    "NSMON_GROUP_ALL": int(nsmon.Group.ALL),
}
for g in nsmon.Group:
    CONSTANTS[f"NSMON_GROUP_{g.name}"] = int(g)
for enum_cls, prefix in [
    (nsmon.WatchKind, "NSMON_WATCHER_EVENT_KIND_"),
    (nsmon.NsidKind, "NSMON_NSID_EVENT_KIND_"),
    (nsmon.StreamKind, "NSMON_STREAM_EVENT_KIND_"),
    (nsmon.InventoryKind, "NSMON_INVENTORY_EVENT_KIND_"),
]:
    for member in enum_cls:
        CONSTANTS[prefix + member.name] = int(member)


def _program() -> str:
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "nsmon.h"', "int main(void) {"]
    for cname, cls in _abi.C_NAMES.items():
        lines.append(f'printf("{cname} %zu\\n", sizeof(struct {cname}));')
        for field, *_ in cls._fields_:
            lines.append(
                f'printf("{cname}.{field} %zu %zu\\n", offsetof(struct {cname}, {field}), '
                f"sizeof(((struct {cname} *)0)->{field}));"
            )
    for name in CONSTANTS:
        lines.append(f'printf("{name} %lld\\n", (long long)({name}));')
    lines += ["return 0;", "}"]
    return "\n".join(lines)


def _expected() -> dict:
    out = {}
    for cname, cls in _abi.C_NAMES.items():
        out[cname] = str(ctypes.sizeof(cls))
        for field, *_ in cls._fields_:
            f = getattr(cls, field)
            out[f"{cname}.{field}"] = f"{f.offset} {f.size}"
    for name, value in CONSTANTS.items():
        out[name] = str(value)
    return out


def test_structs_and_constants_match_the_header(tmp_path):
    cc = shutil.which("cc")
    need(cc is not None, "a C compiler (cc) is needed to read the header")
    header = REPO / "include" / "nsmon.h"
    need(header.is_file(), f"the header is needed at {header}")
    src = tmp_path / "layout.c"
    src.write_text(_program())
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-Wall", "-Werror", f"-I{header.parent}", str(src), "-o", str(exe)], check=True)
    got = dict(line.split(" ", 1) for line in subprocess.run([str(exe)], check=True, stdout=subprocess.PIPE, text=True).stdout.splitlines())
    expected = _expected()
    assert len(got) == len(expected) > 100
    mismatched = {k: (expected[k], got.get(k)) for k in expected if got.get(k) != expected[k]}
    assert not mismatched, f"(ctypes, C) differ: {mismatched}"


def test_the_batch_buffer_is_read_at_the_header_offsets():
    # The struct formats the stream reads with are built from these offsets; each is as long
    # as the fields it reads (checked when the module was imported), and the event's size is
    # the stride.
    from nsmon import stream

    assert stream._EVSIZE == ctypes.sizeof(_abi.StreamEvent)
    assert stream._COMMON.size <= _abi.StreamEvent.link.offset
    assert stream._TC.size <= ctypes.sizeof(_abi.StreamEvent)
    assert stream._COMMON_ROUTE.size == stream._ROUTE.size  # one unpack reads both
