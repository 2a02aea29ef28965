"""Small things a newcomer hit on the command line: a folder named like a package in the working directory
(broker/, kiosk/, collector/, config/) no longer hides the installed package from `python -m ...`, and
`kiosk run --check-only` says ok, naming the file, when the config can be used."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# How the package is found after `pip install -e .` (make setup): setuptools' editable finder, which comes after
# the path finder. The test's stand-in maps the four packages (and hailong_unshadow.py) to this source tree the same way, so the code
# under test is this checkout's (the venv's own finder may point at another checkout).
HARNESS = '''
import importlib.machinery, importlib.util, os, runpy, sys
ROOT = os.environ["HARNESS_ROOT"]

class Editable:
    def find_spec(self, name, path=None, target=None):
        parts = name.split(".")
        if parts[0] not in ("broker", "collector", "config", "kiosk", "hailong_unshadow"):
            return None
        base = os.path.join(ROOT, *parts)
        if os.path.isfile(os.path.join(base, "__init__.py")):
            return importlib.util.spec_from_file_location(name, os.path.join(base, "__init__.py"),
                                                          submodule_search_locations=[base])
        if os.path.isfile(base + ".py"):
            return importlib.util.spec_from_file_location(name, base + ".py")
        return None

sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
sys.meta_path.insert(sys.meta_path.index(importlib.machinery.PathFinder) + 1, Editable())
if sys.argv[1] == "--probe":
    import broker
    print("broker package:", broker.__file__)
else:
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
'''


def installed(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m ARGS` in ``cwd`` as after an editable install (the working directory first on sys.path)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HARNESS_ROOT"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", HARNESS, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_folders_named_like_the_packages_in_the_working_directory_do_not_hide_them(tmp_path):
    # a technician's folders: the broker folder made by `broker init --dir broker`, configs in config/ and
    # kiosk/, a collector/ with a web/ folder of its own
    made = installed(tmp_path, "broker", "init", "--dir", "broker")
    assert made.returncode == 0, made.stderr
    (tmp_path / "config").mkdir()
    (tmp_path / "kiosk").mkdir()
    (tmp_path / "collector" / "web").mkdir(parents=True)
    kiosk_yaml = "kind: kiosk\nsite: xa-a\ndevice: quay-1\noutbox: {path: outbox.db}\n"
    (tmp_path / "config" / "kiosk.yaml").write_text(kiosk_yaml, encoding="utf-8")
    (tmp_path / "kiosk" / "kiosk.yaml").write_text(kiosk_yaml, encoding="utf-8")
    # the stand-in reproduces the trap: from this folder, a bare `import broker` is the folder, not the package
    assert installed(tmp_path, "--probe").stdout.strip() == "broker package: None"

    added = installed(tmp_path, "broker", "add-device", "xa-a", "quay-1", "--dir", "broker")
    assert added.returncode == 0, added.stderr  # was: AttributeError: module 'broker.certs' has no attribute ...
    assert "username: xa-a--quay-1" in added.stdout
    assert installed(tmp_path, "broker", "add-collector", "main", "--dir", "broker").returncode == 0
    checked = installed(tmp_path, "config", "check", "config/kiosk.yaml")
    assert checked.returncode == 0 and "config/kiosk.yaml: ok" in checked.stdout, checked.stderr
    kiosk = installed(tmp_path, "kiosk", "run", "--config", "kiosk/kiosk.yaml", "--check-only")
    assert kiosk.returncode == 0 and "kiosk/kiosk.yaml: ok" in kiosk.stdout, kiosk.stderr
    helped = installed(tmp_path, "collector", "--help")
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr


def test_check_only_says_ok_naming_the_file_and_nothing_of_the_kind_when_it_cannot_be_used(tmp_path):
    run = lambda cfg: subprocess.run([sys.executable, "-m", "kiosk", "run", "--config", str(cfg), "--check-only"],  # noqa: E731
                                     cwd=ROOT, capture_output=True, text=True, timeout=60)
    ok = run(ROOT / "config" / "examples" / "kiosk.yaml")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == f"kiosk: {ROOT / 'config' / 'examples' / 'kiosk.yaml'}: ok, dùng được / can be used\n"
    bad = tmp_path / "kiosk.yaml"
    bad.write_text("kind: kiosk\nsite: xa-a\ndevice: quay-1\nfaces: {scale: 9}\n", encoding="utf-8")
    refused = run(bad)
    assert refused.returncode == 2 and "ok" not in refused.stdout
    assert "faces.scale: 9 is not allowed" in refused.stderr
