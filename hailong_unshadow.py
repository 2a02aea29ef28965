"""What each package's ``__main__.py`` does first: make sure ``python -m PACKAGE`` runs the installed package.

`python -m` puts the working directory first on sys.path, and a folder there named like one of our
packages (a broker folder called broker/, a config/ of YAML files) is imported instead of the installed
package, whose commands then fail with an AttributeError. Unless run from the source tree, forget the
working directory and import the real package again (tests/integration/test_cli_small.py).

A top-level module of its own (pyproject.toml ``py-modules``), not part of any of the four packages: a
folder in the working directory that hides a package would hide this module too if it lived inside one.
"""
from __future__ import annotations

import os
import sys

PACKAGES = ("broker", "collector", "config", "kiosk")


def unshadow(package: str | None, main_file: str) -> None:
    """Call as ``unshadow(__package__, __file__)`` from a package's ``__main__.py``."""
    real = os.path.realpath
    here = os.path.dirname(real(main_file))
    cwd = real(os.getcwd())
    if not package or os.path.dirname(here) == cwd:
        return
    sys.path[:] = [p for p in sys.path if real(p or ".") != cwd]
    pkg = sys.modules.get(package)
    if pkg is not None and os.path.dirname(real(getattr(pkg, "__file__", None) or cwd)) != here:
        for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
            del sys.modules[name]
        try:
            __import__(package)
        except ImportError:
            sys.exit(f"{package}: thư mục {package}/ ở thư mục hiện tại che mất gói cài đặt / a folder named "
                     f"{package}/ in the working directory hides the installed package: run from another folder, "
                     f"or use hailong-{package}")
