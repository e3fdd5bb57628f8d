#!/usr/bin/env bash
# Set up speechml: the Debian tools (espeak-ng) and the Python environment (.venv).
#
# Usage: tools/install.sh
#   Idempotent: a second run checks what exists and does nothing more.
# Environment:
#   VENV                  where to create the virtual environment (default: <repo>/.venv)
#   PYTHON                the interpreter that creates it (default: python3)
#   SPEECHML_CONSTRAINTS  pip constraints file (default: tools/constraints.txt; empty: none)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$repo/.venv}
python=${PYTHON:-python3}
constraints=${SPEECHML_CONSTRAINTS-$repo/tools/constraints.txt}

log() { echo "$(date '+%H:%M:%S') install: $*" >&2; }

# 1. Debian tools: espeak-ng synthesises the embedded corpus; shellcheck checks the recipes
#    in the test suite (its tests are skipped without it).
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]} (Debian packages)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  elif [[ " ${missing[*]} " == *" espeak-ng "* ]]; then
    log "espeak-ng is missing; install it with: sudo apt-get install -y ${missing[*]}"
    exit 1
  else
    log "shellcheck is missing (its tests will be skipped): sudo apt-get install -y shellcheck"
  fi
fi

# 2. The Python environment, reinstalled only when the dependencies changed.
if [ ! -x "$venv/bin/python" ]; then
  log "creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
stamp=$venv/.speechml-installed
want=$(cat "$repo/pyproject.toml" "${constraints:-/dev/null}" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "environment up to date ($venv)"
  exit 0
fi
log "installing speechml and its dependencies into $venv"
start=$(date +%s)
pip_args=(--disable-pip-version-check -q)
if [ -n "$constraints" ]; then
  pip_args+=(-c "$constraints")
fi
"$venv/bin/python" -m pip install "${pip_args[@]}" -e "${repo}[dev]"
echo "$want" > "$stamp"
log "done in $(( $(date +%s) - start )) s"
