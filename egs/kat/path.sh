# shellcheck shell=bash
# Sourced by run.sh: puts recipes/, recipes/utils/ and the speechml environment on PATH.
# The repository is the one this directory is in, or $SPEECHML_ROOT; the environment is the
# active virtual environment ($VIRTUAL_ENV), else the repository's .venv.
SPEECHML_ROOT=${SPEECHML_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export SPEECHML_ROOT
export PATH="$SPEECHML_ROOT/recipes:$SPEECHML_ROOT/recipes/utils:${VIRTUAL_ENV:-$SPEECHML_ROOT/.venv}/bin:$PATH"
export PYTHONUNBUFFERED=1
