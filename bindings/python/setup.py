"""The build step of the nsmon Python package (metadata: pyproject.toml).

The package is pure Python over libnsmon through ctypes, so the only native part is libnsmon
itself, and how it is found is decided here, once, at build time:

- bundled (the default in a checkout): ``cargo build --release --locked -p nsmon --lib`` in the
  repository that holds this folder, and its ``libnsmon.so`` is copied into the package; the
  wheel is then marked platform-specific (``py3-none-<platform>``: it carries a Linux shared
  object, but no CPython extension, so any Python 3 on that platform can load it);
- system (no Cargo.toml above this folder, as in an sdist, or ``NSMON_PYTHON_LIBNSMON=system``):
  nothing is built; pkg-config's libdir for ``nsmon``, if it answers, is recorded for the loader,
  which otherwise asks the dynamic loader (``ctypes.util.find_library``, ``libnsmon.so.0``).

ctypes rather than cffi or a compiled extension: it is in the standard library, needs no C
compiler or Python headers at install time and no dependency at run time, and the C ABI is
plain structs and functions that ctypes declares exactly (the tests check every struct's size
and offsets against the header). Its cost per call is paid once per batch of 64 events.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 has its own; before, the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
BUNDLED = "libnsmon.so"


def repo_root():
    """The Cargo workspace that holds this folder (its Cargo.toml names package nsmon), or
    None."""
    for parent in HERE.parents:
        manifest = parent / "Cargo.toml"
        if manifest.is_file() and 'name = "nsmon"' in manifest.read_text(errors="replace"):
            return parent
    return None


def cargo():
    """cargo from PATH, else rustup's default place (pip may run with a shorter PATH)."""
    found = os.environ.get("CARGO") or shutil.which("cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / "cargo"
    if home.exists():
        return str(home)
    raise SystemExit(
        "nsmon: cargo is needed to build libnsmon (https://rustup.rs), or set "
        "NSMON_PYTHON_LIBNSMON=system to use an installed libnsmon"
    )


def build_libnsmon(root):
    """Builds libnsmon in release mode and returns the path of the shared library."""
    tool = cargo()
    subprocess.run([tool, "build", "--release", "--locked", "-p", "nsmon", "--lib"], cwd=root, check=True)
    # Where cargo put it: CARGO_TARGET_DIR, a .cargo/config, or target/; cargo itself says.
    meta = subprocess.run(
        [tool, "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=root, check=True, stdout=subprocess.PIPE,
    )
    target = Path(json.loads(meta.stdout)["target_directory"])
    built = target / "release" / BUNDLED
    if not built.is_file():
        raise SystemExit(f"nsmon: cargo built no {built}")
    return built


def pkg_config_libdir():
    """The libdir pkg-config gives for nsmon, or None."""
    try:
        out = subprocess.run(
            ["pkg-config", "--variable=libdir", "nsmon"], check=True, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.decode().strip() or None


class BuildPy(build_py):
    """build_py, then libnsmon: bundled or found (see the module's docstring)."""

    def run(self):
        super().run()
        package = Path(self.build_lib) / "nsmon"
        mode = os.environ.get("NSMON_PYTHON_LIBNSMON", "auto")
        if mode not in ("auto", "bundle", "system"):
            raise SystemExit(f"nsmon: NSMON_PYTHON_LIBNSMON={mode!r}: use auto, bundle or system")
        root = repo_root()
        bundled = package / BUNDLED
        config = ["# Written by setup.py when the package was built.\n"]
        if mode == "system" or (mode == "auto" and root is None):
            if bundled.exists():  # left by an earlier build in the same folder
                bundled.unlink()
            libdir = pkg_config_libdir()
            config.append(f"BUNDLED = False\nLIBDIR = {libdir!r}\n")
        else:
            if root is None:
                raise SystemExit("nsmon: NSMON_PYTHON_LIBNSMON=bundle, but no Cargo.toml of nsmon above " + str(HERE))
            shutil.copyfile(build_libnsmon(root), bundled)
            config.append("BUNDLED = True\nLIBDIR = None\n")
        (package / "_build_config.py").write_text("".join(config))


class BdistWheel(bdist_wheel):
    """A wheel for this platform (it may carry libnsmon.so), for any Python 3."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel})
