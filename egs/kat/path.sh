# shellcheck shell=bash
# Sourced by run.sh: puts recipes/, recipes/utils/ and the speechml environment on PATH.
# The repository is the one this directory is in, or $SPEECHML_ROOT. The environment is the
# active virtual environment ($VIRTUAL_ENV), else $VENV (exported by the Makefile; a relative
# path is taken from the repository), else the repository's .venv.
SPEECHML_ROOT=${SPEECHML_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export SPEECHML_ROOT
SPEECHML_VENV=${VIRTUAL_ENV:-${VENV:-.venv}}
[[ $SPEECHML_VENV == /* ]] || SPEECHML_VENV=$SPEECHML_ROOT/$SPEECHML_VENV
export PATH="$SPEECHML_ROOT/recipes:$SPEECHML_ROOT/recipes/utils:$SPEECHML_VENV/bin:$PATH"
export PYTHONUNBUFFERED=1
