#!/usr/bin/env bash
# Baseline stages 10-12: trivial reference systems on data/{dev,test}, their scores, RESULTS.md.
#
# Usage: baseline.sh [options]   (run from an egs dir after data.sh; egs/<lang>/run.sh calls it)
#   Stage 10  decode dev and test with the most frequent training transcript
#             (exp/baseline_most_frequent) and the majority class (exp/baseline_majority_class;
#             skipped, with a log line, when data/train has no utt2label)
#   Stage 11  score them: WER/CER and classification reports in each decode_<set>/
#   Stage 12  collect every score under exp/ into RESULTS.md (always runs: it is cheap)
# Only the stages in [--stage, --stop-stage] run; a stage whose .done marker is newer than its
# inputs reuses its outputs. Each job's log is in exp/<system>/log/.
#
# Options:
#   --stage N         first stage to run
#   --stop-stage N    last stage to run
#   --cmd "RUNNER"    job runner from cmd.sh (run_local.sh or run_slurm.sh [options])

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
cmd=run_local.sh
# shellcheck source=utils/parse_options.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"
# shellcheck source=utils/stage.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/stage.sh"

read -r -d "" -a runner <<<"$cmd" || true
test_sets=(dev test)
asr=exp/baseline_most_frequent
cls=exp/baseline_majority_class
# The majority-class system needs labels: ASR-only data has no utt2label.
with_labels=false
no_labels="data/train has no utt2label: skipping the majority-class system ($cls)"
if [[ -f data/train/utt2label ]]; then
  with_labels=true
elif [[ -d $cls ]]; then
  no_labels+="; $cls holds results of earlier data: remove it to leave them out of RESULTS.md"
fi

if stage_begin 10 "trivial baselines" exp/.done/10.baselines data/{train,dev,test}; then
  $with_labels || log "$no_labels"
  for x in "${test_sets[@]}"; do
    "${runner[@]}" "$asr/log/decode_$x.log" \
      speechml baseline asr --train data/train --data "data/$x" --out "$asr/decode_$x"
    if $with_labels; then
      "${runner[@]}" "$cls/log/decode_$x.log" \
        speechml baseline cls --train data/train --data "data/$x" --out "$cls/decode_$x"
    fi
  done
  stage_done exp/.done/10.baselines
fi

decode_dirs=("$asr"/decode_{dev,test})
if $with_labels; then
  decode_dirs+=("$cls"/decode_{dev,test})
fi
if stage_begin 11 "score the baselines" exp/.done/11.score data/{dev,test} "${decode_dirs[@]}"; then
  $with_labels || log "$no_labels"
  for x in "${test_sets[@]}"; do
    "${runner[@]}" "$asr/log/score_$x.log" \
      speechml score wer --data "data/$x" --decode-dir "$asr/decode_$x"
    if $with_labels; then
      "${runner[@]}" "$cls/log/score_$x.log" \
        speechml score cls --data "data/$x" --decode-dir "$cls/decode_$x"
    fi
  done
  stage_done exp/.done/11.score
fi

# No marker: collecting is cheap, and the scores may be anywhere under exp/.
if stage_begin 12 "collect RESULTS.md"; then
  write_results "${runner[@]}"
  stage_done
fi
