#!/usr/bin/env bash
# The batch script that run_slurm.sh submits: on the node, it runs run_local.sh (given by its
# path) with the array index as the job number, so logs and JOB substitution are run_local.sh's.
#
# Usage (by run_slurm.sh): slurm_job.sh RUNNER JOB_VAR LOGFILE command [args...]
#   JOB_VAR is the job-range variable (e.g. JOB), or empty for a single job.
# The command and its arguments arrive as arguments of this script, never through a shell.
set -euo pipefail

runner=$1
job_var=$2
shift 2
if [[ -n $job_var ]]; then
  exec "$runner" "$job_var=${SLURM_ARRAY_TASK_ID:?not run as a Slurm array job}" "$@"
fi
exec "$runner" "$@"
