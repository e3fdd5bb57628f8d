#!/usr/bin/env bash
# Check recipes/utils/run_slurm.sh on a real Slurm: a one-node cluster on localhost.
#
# Usage: tools/slurm_check.sh [--stop-stage N]   (as root; from anywhere)
#   --stop-stage N   last stage of egs/kat/run.sh (default 21; 26 adds the adapter, its decoding
#                    and scoring: about 20 more jobs)
#
# Installs Debian's slurm-wlm and munge when they are missing, writes a one-node configuration
# and a munge key into a temporary directory, starts munged, slurmctld and slurmd (niced), and
# then, in a temporary copy of egs/kat:
#   1. runs a job array (JOB=1:3, at most 2 at a time) and checks its logs under exp/;
#   2. runs a stage whose array job 2 of 3 fails, and checks that the stage fails with no .done
#      marker;
#   3. interrupts a run_slurm.sh and checks that it cancels its job;
#   4. runs the quick profile (eng + kat, tiny model, 2 training steps) from stage 0 to the stop
#      stage (data 0-3 and the data plan 4, baseline decoding and scoring 10-12, base training 21)
#      with --train-cmd and --decode-cmd set to run_slurm.sh with cluster options.
# Whatever happens, it stops the daemons and removes the temporary directory. Installed
# packages stay. Re-running it is safe. The exit status is non-zero when a check failed.
set -euo pipefail

stop_stage=21
while (($# > 0)); do
  case $1 in
    --stop-stage) stop_stage=${2:?--stop-stage needs a number} && shift 2 ;;
    *) echo "slurm_check.sh: unknown argument $1 (usage: slurm_check.sh [--stop-stage N])" >&2 && exit 1 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
started=$SECONDS

say() {
  echo "[slurm_check $((SECONDS - started))s] $*"
}

die() {
  echo "slurm_check.sh: error: $*" >&2
  exit 1
}

((EUID == 0)) || die "run as root (it installs packages and starts daemons)"
[[ -x $repo/.venv/bin/speechml ]] || die "$repo/.venv/bin/speechml is missing; run make install"

if ! command -v slurmctld slurmd sbatch munged >/dev/null; then
  say "installing slurm-wlm and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

state=$(mktemp -d /tmp/slurm_check.XXXXXX)
chmod 755 "$state"
daemons=()

# stop: the EXIT trap; cancels the jobs left, stops the daemons this script started (the
# last started first, each waited for) and removes its state.
stop() {
  local status=$? i j pid
  if [[ -f $state/slurmctld.pid ]]; then
    scancel --quiet --full --user=root 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
      [[ -n $(squeue --noheader 2>/dev/null) ]] || break
      sleep 0.5
    done
  fi
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
    [[ -f ${daemons[i]} ]] || continue
    pid=$(cat "${daemons[i]}")
    kill "$pid" 2>/dev/null || continue
    for ((j = 0; j < 100; j++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$state"
  say "cluster stopped, $state removed; $( ((status == 0)) && echo "all checks passed" || echo "FAILED (exit $status)")"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for WHAT COMMAND...: retry COMMAND for up to 30 s.
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < 60; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$what did not come up; see $state/*.log"
}

dd if=/dev/urandom of="$state/munge.key" bs=1024 count=1 status=none
chmod 400 "$state/munge.key"
munged --force --key-file "$state/munge.key" --socket "$state/munge.socket" \
  --pid-file "$state/munged.pid" --log-file "$state/munged.log" --seed-file "$state/munged.seed"
daemons+=("$state/munged.pid")

# The node as slurmd sees the hardware, with half the memory for jobs.
hardware=$(slurmd -C | head -n 1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
memory=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 / 2))
export SLURM_CONF=$state/slurm.conf
cat >"$SLURM_CONF" <<EOF
# One node on localhost, written by tools/slurm_check.sh
ClusterName=speechml_check
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge.socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 ${hardware}RealMemory=$memory State=UNKNOWN
PartitionName=check Nodes=localhost Default=YES MaxTime=1:00:00 State=UP
EOF
nice -n 15 slurmctld -f "$SLURM_CONF"
daemons+=("$state/slurmctld.pid")
nice -n 15 slurmd -f "$SLURM_CONF" -N localhost
daemons+=("$state/slurmd.pid")
# sinfo_idle: whether the node is up and idle.
sinfo_idle() {
  [[ $(sinfo --noheader --format=%t 2>/dev/null) == idle ]]
}
wait_for "the node" sinfo_idle
say "$(sbatch --version), $(munged --version 2>&1 | head -n 1)"
say "cluster up: $(sinfo --noheader --format='partition %P, node %N, %c CPUs, %m MB, %t')"

# A temporary copy of egs/kat, with the quick profile's two languages.
egs=$state/kat
mkdir "$egs"
(cd "$repo/egs/kat" && tar --exclude=./corpus --exclude=./data --exclude=./exp \
  --exclude=./RESULTS.md -cf - .) | tar -xf - -C "$egs"
grep -v -E '\{code: (spa|rus|hin|ell|ara),' "$egs/conf/corpus.yaml" >"$egs/conf/quick.yaml"
cd "$egs"
export SPEECHML_ROOT=$repo
# shellcheck source=../egs/kat/path.sh
. ./path.sh

say "1. a job array: JOB=1:3, at most 2 at a time"
# (run_local.sh replaces JOB in every argument, so no variable with JOB in its name here)
# shellcheck disable=SC2016  # the job's shell expands the Slurm variable
run_slurm.sh --max-jobs-run 2 --time 0:05:00 JOB=1:3 exp/slurm_check/log/array.JOB.log \
  bash -c 'echo "array task $SLURM_ARRAY_TASK_ID ran JOB on $(hostname)"; sleep 2'
for job in 1 2 3; do
  log=exp/slurm_check/log/array.$job.log
  grep -q "^array task $job ran $job on " "$log" || die "$log lacks its task's line"
  [[ $(tail -n 1 "$log") == "# Ended (code 0) at "* ]] || die "$log did not end with code 0"
  sed -n 3p "$log" | sed 's/^/  /'
done
find exp/slurm_check/log/slurm -name 'array.*' -printf '  Slurm output: %p\n' | sort
[[ -z $(squeue --noheader) ]] || die "jobs still queued after sbatch --wait returned"

say "2. a stage whose array job 2 of 3 fails"
cat >"$state/failing_stage.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
stage=0
stop_stage=100
. parse_options.sh
. stage.sh
if stage_begin 1 "an array with a failing job" exp/.done/check.fail; then
  run_slurm.sh JOB=1:3 exp/slurm_check/log/fail.JOB.log bash -c 'echo job JOB; ((JOB != 2))'
  stage_done exp/.done/check.fail
fi
EOF
status=0
bash "$state/failing_stage.sh" 2>"$state/fail.err" || status=$?
sed 's/^/  /' "$state/fail.err"
((status != 0)) || die "the stage with a failed array job succeeded"
[[ ! -e exp/.done/check.fail ]] || die "the failed stage wrote its .done marker"
grep -q "failed jobs: exp/slurm_check/log/fail.2.log" "$state/fail.err" ||
  die "run_slurm.sh did not name the failed job's log"
[[ $(tail -n 1 exp/slurm_check/log/fail.2.log) == "# Ended (code 1) at "* ]] ||
  die "fail.2.log does not end with code 1"
say "   the stage failed (exit $status) and left no .done marker"

say "3. an interrupted run_slurm.sh cancels its job"
run_slurm.sh exp/slurm_check/log/interrupted.log sleep 300 2>"$state/interrupt.err" &
runner=$!
# job_running NAME: whether the job NAME runs.
job_running() {
  [[ -n $(squeue --noheader --states=RUNNING --name="$1") ]]
}
wait_for "the job to be interrupted" job_running interrupted
kill -TERM "$runner"
status=0
wait "$runner" || status=$?
sed 's/^/  /' "$state/interrupt.err"
((status == 130)) || die "the interrupted run_slurm.sh exited with $status, not 130"
# no_jobs: whether the queue is empty.
no_jobs() {
  [[ -z $(squeue --noheader) ]]
}
wait_for "an empty queue after the interrupt" no_jobs
say "   exit 130, the job was cancelled, the queue is empty"

tiny_fit=(train.max_steps=2 train.valid_every=2 train.warmup_steps=1)
tiny=("${tiny_fit[@]}" model.encoder.d_model=32
  model.encoder.num_heads=2 model.encoder.ffn_dim=64 model.encoder.num_layers=1
  model.encoder.subsampling_channels=8 model.predictor.embed_dim=16 model.predictor.output_dim=16
  model.joiner_dim=16)
say "4. egs/kat quick profile, stages 0-$stop_stage, every job through sbatch"
recipe_started=$SECONDS
nice -n 15 ./run.sh --stop-stage "$stop_stage" --nj 2 \
  --train-cmd "run_slurm.sh --mem 2G --time 0:20:00 --cpus-per-task 1" \
  --decode-cmd "run_slurm.sh --mem 1G --time 0:10:00" \
  --corpus-config conf/quick.yaml --corpus-dir corpus/quick \
  --corpus-opts "--set utts_per_lang.train=12 --set utts_per_lang.dev=4 --set utts_per_lang.test=4" \
  --tail-langs kat --labelled 4 --min-confidence 0 --train-opts "${tiny[*]/#/--set }" \
  --adapter-opts "${tiny_fit[*]/#/--set }" \
  2>"$state/run.err" ||
  {
    tail -n 30 "$state/run.err" >&2
    die "run.sh failed"
  }
grep -o '\] Stage [0-9]* ([^)]*) done in [0-9]*s' "$state/run.err" | sed 's/^\] /  /'
slurm_outputs=$(find exp -path '*/log/slurm/*.out' | wc -l)
job_logs=$(find exp -path '*/log/*.log' -not -path '*/slurm/*' | wc -l)
say "   run.sh took $((SECONDS - recipe_started))s: $job_logs job logs under exp/*/log/," \
  "$slurm_outputs Slurm outputs under exp/*/log/slurm/"
((job_logs > 0 && slurm_outputs >= job_logs)) || die "fewer Slurm outputs than job logs"
for entry in 3:data/.done/3.tokenizer_fbank_cmvn 11:exp/.done/11.score 21:exp/.done/21.base \
  26:exp/.done/26.score; do
  ((${entry%%:*} > stop_stage)) || [[ -f ${entry#*:} ]] || die "no ${entry#*:}"
done
find exp -path '*/decode_*/wer' -exec grep -h '^%WER' {} + | sort | sed 's/^/  /'
