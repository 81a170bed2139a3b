#!/usr/bin/env bash
# Prepare a fresh machine for callscript: what pip cannot install (espeak-ng), then a
# virtualenv in .venv with callscript and its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v espeak-ng >/dev/null 2>&1; then
    echo "installing espeak-ng (speech for <Speak>)" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq espeak-ng >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
