#!/usr/bin/env bash
# Make egs/<iso>/ for a language: tools/new_lang.sh ISO [--espeak VOICE] [--locale LOC]
# [--script SCRIPT] [--force] (see `speechml recipe new-lang --help`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "${VIRTUAL_ENV:-$root/.venv}/bin/speechml" recipe new-lang --egs-root "$root/egs" "$@"
