# shellcheck shell=bash
# Logging and stage control for recipe scripts; source it after parse_options.sh.
#
#   log "message"                      # "2024-05-01 12:00:00 [data.sh] message" on stderr
#
#   if stage_begin 2 "validate data" data/.done/2.validate data/train/text data/dev/text; then
#     speechml data validate data/train
#     stage_done data/.done/2.validate
#   fi
#   if stage_begin 1 "prepare data dirs" --signature "corpus=$corpus_dir" data/.done/1.combine \
#     "$corpus_dir/.done"; then ...
#
# `stage_begin N NAME [--signature STRING] [MARKER [INPUT...]]` succeeds (run the stage) when
# `stage <= N <= stop_stage` (the caller's `stage` and `stop_stage` variables) and MARKER is
# missing, holds another signature, or is older than a file in one of the INPUTs (files or
# directories, searched recursively; a missing INPUT also re-runs). The signature (one line;
# newlines become spaces) names what the outputs depend on that file times cannot show: which
# corpus, which options. Before it succeeds it logs `Stage N (NAME)` (and, when the signature
# changed, the old and the new one) and removes MARKER, so a stage that fails never looks done;
# when the outputs are up to date it logs that it reuses them. Without a MARKER the stage runs
# whenever it is in the range (for a command that checks its own outputs, or a cheap one).
# `require_option NAME WHAT` stops the recipe unless the option --NAME was given.
# `stage_done [MARKER]` writes the marker (the time, then the signature given to the stage
# begun last) and logs the time the stage took. A script that exits non-zero between
# `stage_begin` and `stage_done` (a failed job under `set -e`) logs which stage failed and that
# it left no marker.

log() {
  echo "$(date '+%Y-%m-%d %H:%M:%S') [$(basename "$0")] $*" >&2
}

# stage_begin N NAME [--signature STRING] [MARKER [INPUT...]]: whether stage N must run now.
stage_begin() {
  local number=$1 name=$2 signature="" marker stored first=${stage:?} last=${stop_stage:?}
  shift 2
  if [[ ${1:-} == --signature ]]; then
    if (($# < 3)); then
      log "error: stage_begin $number: --signature needs a value and a MARKER to store it in"
      exit 1
    fi
    signature=${2//$'\n'/ }
    shift 2
  fi
  marker=${1:-}
  shift $(($# < 1 ? $# : 1))
  if [[ ! $first =~ ^-?[0-9]+$ || ! $last =~ ^-?[0-9]+$ ]]; then
    log "error: --stage and --stop-stage take integers, got '$first' and '$last'"
    exit 1
  fi
  ((first <= number && number <= last)) || return 1
  log "Stage $number ($name)"
  if [[ -n $marker && -f $marker ]]; then
    stored=$(tail -n +2 "$marker")
    if [[ $stored != "$signature" ]]; then
      log "Stage $number ($name): the settings differ from those of $marker, re-running" \
        "(were '$stored', now '$signature')"
    elif _stage_up_to_date "$marker" "$@"; then
      log "Stage $number ($name): outputs are newer than the inputs, reusing them" \
        "(remove $marker to re-run)"
      return 1
    fi
  fi
  [[ -z $marker ]] || rm -f "$marker"
  _stage_started=$SECONDS
  _stage_label="Stage $number ($name)"
  _stage_signature=$signature
  _stage_running=true
  trap _stage_on_exit EXIT
  return 0
}

# _stage_on_exit: the EXIT trap; names the stage that was running when the script failed.
_stage_on_exit() {
  local status=$?
  if ((status != 0)) && [[ ${_stage_running:-} == true ]]; then
    log "error: ${_stage_label} failed (exit status $status); it wrote no .done marker" \
      "(the failed job's log is named above)"
  fi
}

# stage_done [MARKER]: mark the stage begun last as finished, with its signature.
stage_done() {
  if (($# > 0)); then
    mkdir -p "$(dirname "$1")"
    {
      date '+%Y-%m-%d %H:%M:%S'
      [[ -z ${_stage_signature:-} ]] || printf '%s\n' "$_stage_signature"
    } >"$1"
  fi
  log "${_stage_label:-stage} done in $((SECONDS - ${_stage_started:-SECONDS}))s"
  _stage_running=false
}

# _stage_up_to_date MARKER [INPUT...]: every input exists and nothing in them is newer than MARKER.
_stage_up_to_date() {
  local marker=$1 input
  shift
  for input in "$@"; do
    [[ -e $input ]] || return 1
  done
  (($# == 0)) || [[ -z $(find "$@" -newer "$marker" -print -quit) ]]
}

# require_option NAME WHAT: stop with an error unless the option --NAME (variable NAME) is set.
require_option() {
  if [[ -z ${!1} ]]; then
    log "error: --${1//_/-} is required ($2)"
    exit 1
  fi
}

# write_results RUNNER...: RESULTS.md from every scored decode dir under exp/ and every recipe
# summary there (exp/{lda,cls,cpt,llm}_summary.md), through the job runner RUNNER.
write_results() {
  local includes=() summary
  for summary in exp/{lda,cls,cpt,llm}_summary.md; do
    [[ ! -f $summary ]] || includes+=(--include "$summary")
  done
  "$@" exp/results/log/results.log speechml score results . --out RESULTS.md "${includes[@]}"
  log "results: $(pwd)/RESULTS.md"
}
