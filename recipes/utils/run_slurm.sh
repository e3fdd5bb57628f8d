#!/usr/bin/env bash
# Run a command on a Slurm cluster with a log, with the interface of run_local.sh (Kaldi's run.pl).
#
# Usage: run_slurm.sh [options] [JOB=1:N] LOGFILE command [args...]
#   e.g. run_slurm.sh --partition gpu --gres gpu:1 --mem 16G --time 4:00:00 \
#          exp/asr/log/train.log speechml asr train --config conf/asr.yaml
#
# Submits with `sbatch --wait` (JOB=A:B becomes the job array A-B) and returns when every job
# has ended. Each job runs `run_local.sh` on its node (through slurm_job.sh, the batch script),
# so the logs, the JOB substitution and the command line are the same as with run_local.sh; the
# command and its arguments reach it as sbatch's script arguments, never through a shell.
# The jobs get this shell's environment (--export=ALL: PATH from path.sh) and run in this
# directory, which the nodes must share. Slurm's own output goes to LOGDIR/slurm/
# (NAME.JOBID.out, NAME.ARRAYJOBID_TASK.out for an array).
# The exit status is non-zero when a job failed; the failed logs are named on stderr.
# Interrupted (INT, TERM), it cancels the jobs it submitted (scancel) and exits with 130.
#
# Options (passed to sbatch as --name=value):
#   --partition P  --gres gpu:1  --mem 16G  --time 4:00:00  --cpus-per-task N  --account A  --qos Q
#   --max-jobs-run N   at most N array jobs at a time (sbatch --array=A-B%N)
set -euo pipefail

usage() {
  sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 1
}

sbatch_opts=()
throttle=""
while [[ ${1:-} == --* ]]; do
  (($# >= 2)) || usage
  case $1 in
    --max-jobs-run) throttle="%$2" ;;
    --partition | --gres | --mem | --time | --cpus-per-task | --account | --qos)
      sbatch_opts+=("$1=$2")
      ;;
    *)
      echo "run_slurm.sh: unknown option $1" >&2
      usage
      ;;
  esac
  shift 2
done

job_var="" first=1 last=1
if [[ ${1:-} =~ ^([A-Z][A-Z0-9_]*)=([0-9]+)(:([0-9]+))?$ ]]; then
  job_var=${BASH_REMATCH[1]}
  first=${BASH_REMATCH[2]}
  last=${BASH_REMATCH[4]:-$first}
  sbatch_opts+=("--array=$first-$last$throttle")
  shift
fi
(($# >= 2)) || usage
log_template=$1
log_dir=$(dirname "$log_template")
name=$(basename "$log_template" .log)
mkdir -p "$log_dir/slurm"
logs=()
for ((job = first; job <= last; job++)); do
  log=$log_template
  [[ -n $job_var ]] && log=${log//$job_var/$job}
  logs+=("$log")
done
rm -f "${logs[@]}" # a log left by an earlier run must not pass for this one
output="$log_dir/slurm/$name.%j.out"
if [[ -n $job_var ]]; then
  name=${name//.$job_var/} # train.JOB.log: job name train, output train.ARRAYJOBID_TASK.out
  output="$log_dir/slurm/$name.%A_%a.out"
fi

# Each node runs run_local.sh, which substitutes JOB and writes the log. sbatch runs in the
# background so that an interrupt can cancel the job it printed the id of.
utils=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
submitted=$(mktemp)
sbatch_pid=""
trap 'rm -f "$submitted"' EXIT
cancel_jobs() {
  local job_id
  job_id=$(cut -d ';' -f 1 "$submitted")
  [[ -z $job_id ]] || scancel "$job_id" || true
  [[ -z $sbatch_pid ]] || kill "$sbatch_pid" 2>/dev/null || true
  echo "run_slurm.sh: interrupted; cancelled Slurm job ${job_id:-(not submitted yet)}" >&2
  exit 130
}
trap cancel_jobs INT TERM
sbatch --wait --parsable --export=ALL --job-name="$name" --output="$output" "${sbatch_opts[@]}" \
  "$utils/slurm_job.sh" "$utils/run_local.sh" "$job_var" "$@" >"$submitted" &
sbatch_pid=$!
status=0
wait "$sbatch_pid" || status=$?

failed=()
for log in "${logs[@]}"; do
  [[ -f $log && $(tail -n 1 "$log") == "# Ended (code 0) at "* ]] || failed+=("$log")
done
if ((status != 0 || ${#failed[@]} > 0)); then
  echo "run_slurm.sh: sbatch exited with $status; failed jobs: ${failed[*]:-none}" \
    "(Slurm output in $log_dir/slurm/)" >&2
  exit 1
fi
