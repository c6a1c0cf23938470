"""Version, names, identities and the error model."""

from __future__ import annotations

import errno
import os
import pickle

import pytest

import nsmon

from conftest import cargo_version


def test_versions_are_the_librarys():
    assert nsmon.version() == cargo_version()
    assert nsmon.__version__ == cargo_version()


def test_identify_the_callers_namespace_every_way(root):
    me = nsmon.identify()
    assert me == nsmon.identify(nsmon.current())
    assert me == nsmon.identify(nsmon.path("/proc/self/ns/net"))
    assert me == nsmon.identify(nsmon.path(b"/proc/self/ns/net"))
    assert me == nsmon.identify(nsmon.pid(os.getpid()))
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        assert me == nsmon.identify(nsmon.fd(fd))
        with open(fd, closefd=False) as f:  # anything with fileno()
            assert me == nsmon.identify(nsmon.fd(f))
    finally:
        os.close(fd)
    assert me.ino == os.stat("/proc/self/ns/net").st_ino
    assert me.dev == os.stat("/proc/self/ns/net").st_dev


def test_a_named_namespace_is_another_identity(netns):
    mine, theirs = nsmon.identify(), nsmon.identify(nsmon.named(netns))
    assert theirs != mine
    assert theirs == nsmon.identify(nsmon.path(f"/var/run/netns/{netns}"))
    assert theirs.ino == os.stat(f"/var/run/netns/{netns}").st_ino


def test_validate_name():
    nsmon.validate_name("blue")
    nsmon.validate_name(b"nsmon-\xc3\xa9")
    for bad in ["", ".", "..", "a/b", "/", "x" * 256]:
        with pytest.raises(nsmon.NsmonError) as info:
            nsmon.validate_name(bad)
        assert info.value.errno == errno.EINVAL
        assert info.value.strerror  # the library's reason
    with pytest.raises(nsmon.NsmonError) as info:
        nsmon.validate_name(b"nsmon-\xff")
    assert info.value.code == -10002 and info.value.errno == errno.EINVAL


def test_errors_are_oserror_subclasses_with_the_librarys_message(root):
    with pytest.raises(FileNotFoundError) as info:
        nsmon.identify(nsmon.named("nsmon-t-does-not-exist"))
    e = info.value
    assert isinstance(e, nsmon.NsmonError) and isinstance(e, OSError)
    assert e.errno == errno.ENOENT and e.code == -errno.ENOENT
    assert "nsmon-t-does-not-exist" in e.strerror and e.op == "identify"
    assert type(e) is nsmon.NsmonFileNotFoundError
    with pytest.raises(ProcessLookupError):
        nsmon.identify(nsmon.pid(2**31 - 1))
    with pytest.raises(nsmon.NsmonError) as info:
        nsmon.identify(nsmon.path("/proc/self/ns/uts"))  # not a network namespace
    assert info.value.errno == errno.EINVAL
    # Pickled (sent to another process) it is the same exception.
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is type(e) and again.errno == e.errno and again.strerror == e.strerror


def test_netns_values():
    assert nsmon.named("a") == nsmon.named(b"a")
    assert nsmon.named("a") != nsmon.path("a")
    assert hash(nsmon.pid(1)) == hash(nsmon.pid(1))
    assert repr(nsmon.fd(3)) == "nsmon.fd(3)"
    with pytest.raises(AttributeError):
        nsmon.current()._kind = 2
