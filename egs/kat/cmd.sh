# shellcheck shell=bash disable=SC2034  # the variables are read by run.sh
# Sourced by run.sh: the job runners (Kaldi's cmd.sh). Both take
#   RUNNER [options] [JOB=1:N] LOGFILE command [args...]
# and write one log a job; run.sh also takes them as --train-cmd and --decode-cmd.
train_cmd=run_local.sh
decode_cmd=run_local.sh

# On a Slurm cluster:
# train_cmd="run_slurm.sh --partition gpu --gres gpu:1 --mem 32G --time 24:00:00"
# decode_cmd="run_slurm.sh --partition cpu --mem 8G --time 4:00:00"
