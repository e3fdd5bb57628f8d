#!/usr/bin/env bash
# Make egs/<iso>/ for a language: tools/new_lang.sh ISO [--espeak VOICE] [--locale LOC]
# [--script SCRIPT] [--force] (see `speechml recipe new-lang --help`).
# Needs the environment that `make install` (tools/install.sh) creates: the active virtual
# environment, else $VENV, else the repository's .venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VIRTUAL_ENV:-${VENV:-$root/.venv}}
[[ $venv == /* ]] || venv=$root/$venv
if [[ ! -x $venv/bin/speechml ]]; then
  echo "new_lang.sh: speechml is not installed in $venv: run \`make install\` (or" \
    "tools/install.sh) in $root first" >&2
  exit 1
fi
exec "$venv/bin/speechml" recipe new-lang --egs-root "$root/egs" "$@"
