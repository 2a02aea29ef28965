#!/usr/bin/env bash
# Mutation testing of the modules that carry the no-loss and completeness promises (mutmut): each
# mutant is a small change to the code (a < for a <=, a dropped call, a changed constant); a mutant
# the tests do not catch is a behaviour no test pins. Runs the unit tests and the kiosk receipt tests
# against every mutant; takes a while. Not part of `make test`.
#   scripts/mutants.sh                # all the modules in [tool.mutmut] of pyproject.toml
#   .venv/bin/python -m mutmut results        # then: the survivors; `.venv/bin/python -m mutmut show NAME` for one
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -c "import mutmut" 2>/dev/null || .venv/bin/python -m pip install -q "mutmut==3.8.1"
export KIVY_NO_ARGS=1 KCFG_KIVY_LOG_LEVEL=warning KIVY_NO_CONSOLELOG=1
export KIVY_HOME="${KIVY_HOME:-$(mktemp -d)}"
.venv/bin/python -m mutmut run "$@" || true
.venv/bin/python scripts/mutant_scores.py
