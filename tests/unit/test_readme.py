"""The README's commands work as written: each subcommand exists and accepts the options shown,
`config check` passes on the files named, and the broker set-up commands run for real."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = "\n".join(re.findall(r"```sh\n(.*?)```", README, re.S))
COMMANDS = [re.sub(r"\s+#.*$", "", line).strip() for line in BLOCKS.splitlines() if line.strip().startswith("python -m ")]


def run(args, **kw):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, **kw)


def test_readme_has_the_test_and_demo_commands():
    assert "make test" in BLOCKS and "make demo" in BLOCKS
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_matches_the_code(command):
    tokens = shlex.split(command)
    module = tokens[2]
    # every word before the first option: nested subcommands (`fleet push`) and their positionals,
    # after which argparse prints the innermost subcommand's help
    sub = []
    for t in tokens[3:]:
        if t.startswith("-"):
            break
        sub.append(t)
    helped = run(["-m", module, *sub, "--help"])
    assert helped.returncode == 0, helped.stderr
    for option in (t.split("=")[0] for t in tokens if t.startswith("--")):
        assert option in helped.stdout, f"{command}: {option} is not an option of `{module} {' '.join(sub)}`"


def test_readme_config_checks_pass():
    checks = [c for c in COMMANDS if c.startswith("python -m config check")]
    assert checks
    for c in checks:
        out = run(shlex.split(c)[1:])
        assert out.returncode == 0 and ": ok" in out.stdout, out.stderr


def test_readme_broker_setup_runs(tmp_path):
    setup = [c for c in COMMANDS if c.startswith("python -m broker ") and c.split()[3] in
             ("init", "add-device", "add-collector")]
    assert len(setup) == 3
    for c in setup:
        out = run(shlex.split(c.replace("/etc/hailong-broker", str(tmp_path)))[1:])
        assert out.returncode == 0, out.stderr
    assert (tmp_path / "mosquitto.conf").exists() and (tmp_path / "data" / "dynsec.json").exists()
