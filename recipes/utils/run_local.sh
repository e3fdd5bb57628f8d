#!/usr/bin/env bash
# Run a command on this machine with a log, as Kaldi's run.pl does.
#
# Usage: run_local.sh [options] [JOB=1:N] LOGFILE command [args...]
#   e.g. run_local.sh JOB=1:4 exp/feats/log/fbank.JOB.log speechml data features data/split4/JOB
#
# With JOB=A:B (any upper-case name), jobs A..B run in parallel and JOB is replaced by the job
# number in LOGFILE and in every argument. Each log starts with the command line and the start
# time and ends with the time taken and the exit code. The exit status is non-zero when a job
# failed; the failed logs are named on stderr with their last lines.
# On a terminal (stderr is one), a single job's output also goes to the terminal as it is
# written to its log, as `tail -f LOGFILE` would show it, and each job of a JOB=A:B range prints
# one line when it ends. The command's own output is never a terminal, so speechml writes plain
# progress lines (no bars) into the log.
# The command runs as given, one argument each, with no shell in between: an argument such as
# `;`, `|`, `$(...)` or one holding a newline reaches the command as that text and never runs
# anything (wrap a pipeline in `bash -c '...'` yourself where you want one).
#
# Options:
#   --max-jobs-run N   at most N jobs at a time (default: all)
#   --partition, --gres, --mem, --time, --cpus-per-task, --account, --qos VALUE
#                      accepted for the cluster runner (run_slurm.sh) and ignored here, so that
#                      cmd.sh can switch runners without changing the recipes
set -euo pipefail

usage() {
  sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 1
}

max_jobs_run=0
while [[ ${1:-} == --* ]]; do
  (($# >= 2)) || usage
  case $1 in
    --max-jobs-run) max_jobs_run=$2 ;;
    --partition | --gres | --mem | --time | --cpus-per-task | --account | --qos) ;;
    *)
      echo "run_local.sh: unknown option $1" >&2
      usage
      ;;
  esac
  shift 2
done
[[ $max_jobs_run =~ ^[0-9]+$ ]] || {
  echo "run_local.sh: --max-jobs-run takes a number, got '$max_jobs_run'" >&2
  exit 1
}

job_var="" first=1 last=1
if [[ ${1:-} =~ ^([A-Z][A-Z0-9_]*)=([0-9]+)(:([0-9]+))?$ ]]; then
  job_var=${BASH_REMATCH[1]}
  first=${BASH_REMATCH[2]}
  last=${BASH_REMATCH[4]:-$first}
  shift
  ((first <= last)) || {
    echo "run_local.sh: empty job range $job_var=$first:$last" >&2
    exit 1
  }
fi
(($# >= 2)) || usage
log_template=$1
shift

# run_job LOG ARG...: run the command ARG... (JOB already substituted) with its output and
# accounting in LOG; its exit status is the command's (128 + N when signal N killed it).
run_job() {
  local log=$1 started=$SECONDS status=0
  shift
  mkdir -p "$(dirname "$log")"
  {
    echo "#$(printf ' %q' "$@")"
    echo "# Started at $(date)"
  } >"$log"
  if [[ $terminal == follow ]]; then
    "$@" 2>&1 </dev/null | tee -a "$log" >&2 || status=$?
  else
    "$@" >>"$log" 2>&1 </dev/null || status=$?
  fi
  {
    echo "# Accounting: time=$((SECONDS - started)) threads=1"
    echo "# Ended (code $status) at $(date)"
  } >>"$log"
  [[ $terminal != each-end ]] ||
    echo "run_local.sh: $log ended (code $status) after $((SECONDS - started)) s" >&2
  return "$status"
}

# What the terminal shows: nothing (stderr is not one), a single job's output, or job ends.
terminal=""
if [[ -t 2 ]]; then
  terminal=each-end
  ((first < last)) || terminal=follow
fi

# Each job in its own process group, so that an interrupt can stop the whole of it.
set -m
pids=()
logs=()
stop_jobs() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  exit 130
}
trap stop_jobs INT TERM
for ((job = first; job <= last; job++)); do
  while ((max_jobs_run > 0)) && (($(jobs -pr | wc -l) >= max_jobs_run)); do
    wait -n || true
  done
  log=$log_template
  args=("$@")
  if [[ -n $job_var ]]; then
    log=${log//$job_var/$job}
    args=("${args[@]//$job_var/$job}")
  fi
  run_job "$log" "${args[@]}" &
  pids+=("$!")
  logs+=("$log")
done

wait || true
failed=()
for log in "${logs[@]}"; do
  [[ $(tail -n 1 "$log") == "# Ended (code 0) at "* ]] || failed+=("$log")
done
if ((${#failed[@]} > 0)); then
  echo "run_local.sh: ${#failed[@]} of ${#logs[@]} jobs failed; see ${failed[*]}" >&2
  for log in "${failed[@]}"; do
    echo "--- last lines of $log:" >&2
    tail -n 8 "$log" >&2
  done
  exit 1
fi
