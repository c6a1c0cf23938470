"""Bad input gets a clear exception, never a crash: wrong types, None, NUL bytes, names with
'/' or '..', bytes that are not UTF-8 where UTF-8 is needed, out-of-range numbers, a closed
handle."""

from __future__ import annotations

import errno
import os

import pytest

import nsmon

BAD_NAMES = ["", ".", "..", "a/b", "../etc", "/", "x" * 256]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_namespace_names_are_einval_everywhere(root, name):
    ns = nsmon.named(name)
    for call in (
        lambda: nsmon.identify(ns),
        lambda: nsmon.get_nsid(ns),
        lambda: nsmon.set_nsid(ns),
        lambda: nsmon.NsidSubscriber(ns),
        lambda: nsmon.validate_name(name),
    ):
        with pytest.raises(nsmon.NsmonError) as info:
            call()
        assert info.value.errno == errno.EINVAL, info.value
    with nsmon.Stream() as s:
        for call in (lambda: s.add("k", ns), lambda: s.add_all_nsid("k", ns)):
            with pytest.raises(nsmon.NsmonError) as info:
                call()
            assert info.value.errno == errno.EINVAL
        assert len(s) == 0  # nothing changed
        (err,) = s.add_many([("k", ns)])
        assert err.errno == errno.EINVAL and len(s) == 0


def test_wrong_types_and_none(root):
    for bad in (None, 1, 1.5, ["a"], object()):
        with pytest.raises(TypeError):
            nsmon.named(bad)
        with pytest.raises(TypeError):
            nsmon.path(bad)
        with pytest.raises(TypeError):
            nsmon.validate_name(bad)
    for bad in (None, "1", 1.0, True):
        with pytest.raises(TypeError):
            nsmon.pid(bad)
        with pytest.raises(TypeError):
            nsmon.fd(bad)
    with pytest.raises(TypeError):
        nsmon.identify("blue")  # a str is not a namespace: nsmon.named("blue") is
    with pytest.raises(TypeError):
        nsmon.get_nsid(None)
    with pytest.raises(TypeError):
        nsmon.set_nsid(None)
    with pytest.raises(TypeError):
        nsmon.set_nsid(nsmon.current(), "auto")
    with pytest.raises(TypeError):
        nsmon.NsidSubscriber("blue")
    with pytest.raises(TypeError):
        nsmon.Watcher(42)
    with pytest.raises(TypeError):
        nsmon.Watcher([None])
    with pytest.raises(TypeError):
        nsmon.Inventory(rescan_interval="5")
    with pytest.raises(TypeError):
        nsmon.Stream(coalescing="1ms")
    with nsmon.Stream() as s:
        for key in (None, 1, ["k"]):
            with pytest.raises(TypeError):
                s.add(key, nsmon.current())
            with pytest.raises(TypeError):
                s.remove(key)
            with pytest.raises(TypeError):
                s.contains(key)
            with pytest.raises(TypeError):
                s.identity(key)
        with pytest.raises(TypeError):
            s.add("k", "blue")
        with pytest.raises(TypeError):
            s.add("k", groups="all")
        with pytest.raises(TypeError):
            s.add_many([("k",)])
        with pytest.raises(TypeError):
            s.add_many([("k", "blue")])
        with pytest.raises(TypeError):
            s.add_many(None)
        with pytest.raises(TypeError):
            s.next_batch("64")
        with pytest.raises(TypeError):
            s.wait("1")
        assert len(s) == 0


def test_nul_bytes_bad_text_and_ranges(root):
    for make in (nsmon.named, nsmon.path, nsmon.validate_name):
        with pytest.raises(ValueError):
            make("nsmon\0x")
    with pytest.raises(ValueError):
        nsmon.named("nsmon-\udcff")  # a lone surrogate is no UTF-8
    for bad in (-(2**31) - 1, 2**31):
        with pytest.raises(ValueError):
            nsmon.pid(bad)
    with pytest.raises(nsmon.NsmonError) as info:
        nsmon.identify(nsmon.pid(-1))
    assert info.value.errno == errno.EINVAL and "-1" in info.value.strerror
    with pytest.raises(nsmon.NsmonError) as info:
        nsmon.identify(nsmon.fd(-1))
    assert info.value.errno == errno.EINVAL
    unused = os.open("/dev/null", os.O_RDONLY)
    os.close(unused)
    with pytest.raises(nsmon.NsmonError) as info:
        nsmon.identify(nsmon.fd(unused))
    assert info.value.errno == errno.EBADF
    with open("/dev/null") as f:  # an fd, but not of a namespace
        with pytest.raises(nsmon.NsmonError) as info:
            nsmon.identify(nsmon.fd(f))
        assert info.value.errno == errno.EINVAL
    with pytest.raises(ValueError):
        nsmon.set_nsid(nsmon.current(), -2)
    with pytest.raises(ValueError):
        nsmon.Stream(coalescing=0)
    with pytest.raises(ValueError):
        nsmon.Stream(coalescing=float("nan"))
    with pytest.raises(ValueError):
        nsmon.Inventory(rescan_interval=0.001)
    with pytest.raises(ValueError):
        nsmon.NsidSubscriber(receive_buffer=-1)
    with nsmon.Stream() as s:
        with pytest.raises(ValueError):
            s.add("k\0")
        with pytest.raises(ValueError):
            s.add("k-\udcff")
        with pytest.raises(nsmon.NsmonError) as info:
            s.add(b"k-\xff")  # bytes keys are checked by the library: not UTF-8
        assert info.value.code == -10002
        with pytest.raises(nsmon.NsmonError) as info:
            s.add("k", groups=1 << 20)  # no such group
        assert info.value.errno == errno.EINVAL
        with pytest.raises(ValueError):
            s.add("k", groups=-1)
        with pytest.raises(ValueError):
            s.add("k", receive_buffer=-1)
        with pytest.raises(ValueError):
            s.next_batch(0)
        with pytest.raises(ValueError):
            s.wait(float("nan"))
        with pytest.raises(ValueError):
            s.add_many([("k\0", nsmon.current())])
        assert len(s) == 0
    with pytest.raises(nsmon.NsmonError) as info:
        nsmon.Watcher("")  # an empty folder name
    assert info.value.errno == errno.EINVAL


def test_paths_need_not_be_utf8(root):
    with pytest.raises(FileNotFoundError) as info:
        nsmon.identify(nsmon.path(b"/tmp/nsmon-t-\xff-missing"))
    assert info.value.errno == errno.ENOENT


def _handles():
    return [nsmon.Watcher(), nsmon.NsidSubscriber(), nsmon.Stream(), nsmon.Inventory()]


def test_every_call_on_a_closed_handle_raises(root):
    for h in _handles():
        h.close()
        h.close()  # idempotent
        assert h.closed and "closed" in repr(h)
        for call in (h.fileno, h.next, h.wait, h.ready, lambda: list(h), lambda: h.__enter__(), lambda: h.wait(0)):
            with pytest.raises(nsmon.HandleClosedError) as info:
                call()
            assert "closed" in str(info.value)
            assert isinstance(info.value, ValueError)
    s = nsmon.Stream()
    s.close()
    for call in (
        lambda: s.add("k"),
        lambda: s.add_all_nsid("k"),
        lambda: s.add_many([("k", nsmon.current())]),
        lambda: s.remove("k"),
        lambda: s.contains("k"),
        lambda: "k" in s,
        lambda: s.identity("k"),
        lambda: len(s),
        lambda: s.next_batch(),
    ):
        with pytest.raises(nsmon.HandleClosedError):
            call()
    assert not s  # a closed stream is false
    inv = nsmon.Inventory()
    inv.close()
    with pytest.raises(nsmon.HandleClosedError):
        inv.snapshot()


def test_with_closes(root):
    with nsmon.Stream() as s:
        pass
    assert s.closed
    with pytest.raises(RuntimeError):
        with nsmon.Watcher() as w:
            raise RuntimeError("inside")
    assert w.closed
