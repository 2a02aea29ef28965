#!/usr/bin/env bash
# Runs the whole suite. The Kivy window tests need a screen: under no display we start Xvfb.
set -uo pipefail
cd "$(dirname "$0")/.."
export KIVY_NO_ARGS=1 KCFG_KIVY_LOG_LEVEL=warning KIVY_NO_CONSOLELOG=1
export KIVY_HOME="${KIVY_HOME:-$(mktemp -d)}"
cmd=(.venv/bin/python -m pytest "$@")
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
