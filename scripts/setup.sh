#!/usr/bin/env bash
# Installs everything the project needs on Debian, Ubuntu or Raspberry Pi OS, then the Python
# environment in .venv. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Mosquitto and PostgreSQL for the tests and the demo, Xvfb + Mesa (libgl1, libegl1) for the Kivy
# window, Chromium, a font and poppler (PDF to text/PNG) for the dashboard tests, faketime for the
# tests of kiosks whose clock is wrong, zbar-tools (zbarimg) to read enrolment QR codes back; and what the
# tests run directly that a minimal image may lack: openssl (certificates), mount, findmnt and mkfs.ext4
# (mount, util-linux, e2fsprogs: the real full-disk and read-only card tests), pgrep (procps); espeak-ng for
# the kiosk's spoken clips (python -m kiosk voice build) and their tests.
APT_PACKAGES=(mosquitto mosquitto-clients postgresql xvfb xauth libgl1 libegl1 libgl1-mesa-dri libmtdev1
              chromium fonts-dejavu-core poppler-utils faketime zbar-tools
              openssl mount util-linux e2fsprogs procps espeak-ng)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev,postgres]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
echo "setup: ready"
