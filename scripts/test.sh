#!/usr/bin/env bash
# Runs the whole suite. The Kivy window tests need a screen: under no display we start Xvfb.
set -uo pipefail
cd "$(dirname "$0")/.."
export KIVY_NO_ARGS=1 KCFG_KIVY_LOG_LEVEL=warning KIVY_NO_CONSOLELOG=1
export KIVY_HOME="${KIVY_HOME:-$(mktemp -d)}"
cmd=(.venv/bin/python -m pytest "$@")
# The whole suite runs on three workers (pytest-xdist; many tests wait rather than compute, so one more
# than the 2 cores keeps both busy); tests that must not overlap share a group
# (tests/conftest.py). Chosen tests run in one process unless TEST_WORKERS says otherwise.
workers="${TEST_WORKERS:-$([ $# -eq 0 ] && echo 3 || echo 0)}"
if [ "$workers" != 0 ]; then
  cmd+=(-n "$workers" --dist loadgroup)
fi
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
  cmd=(xvfb-run -a -s "-screen 0 1280x800x24" "${cmd[@]}")
fi
"${cmd[@]}"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test: no test was collected: that is a failure" >&2
  exit 1
fi
exit "$rc"
