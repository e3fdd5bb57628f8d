#!/usr/bin/env bash
# Language-dependent adapter (LDA) stages 21-27: a frozen multilingual streaming transducer, one
# adapter a tail language, all trained in one run with noisy-student pseudo-labels, each taken
# from its own best dev step and merged into one multi-locale model; full fine-tuning of each tail
# language on the same data for comparison; decoding and scores.
#
# Usage: lda.sh --tail-langs "ISO..." [options]   (run from an egs dir after data.sh, whose
#        stage 4 wrote the data plan of the same tail languages; run.sh calls both)
#   Stage 21  train the multilingual base (exp/base): a streaming Conformer transducer trained
#             in one joint stage (pruned RNN-T + auxiliary CTC) with dynamic chunks, so that one
#             model decodes streaming and with full context; and the n-gram LMs of shallow
#             fusion (data/lm_char, one a language, from the training transcripts)
#   Stage 22  noisy student, for each iteration I: the teacher (the base's full-context pass, then
#             the last iteration's model: the base with every adapter) pseudo-labels
#             data/tail_untranscribed and reports how well its confidence predicts errors on
#             data/dev_tail; confident hypotheses plus data/tail_labelled (data/tail_pseudo_I),
#             speed-perturbed (data/tail_student_I), train every tail language's adapter on the
#             frozen base in one run (each utterance through its language's adapter; from
#             iteration 2 on, starting from the teacher's adapters): exp/lda_iterI, the last one
#             exp/lda, each language's adapter from its own best dev step (exp/lda/adapters/T,
#             dev_wer_per_language.png)
#   Stage 23  full fine-tuning of every weight of the base, one model a tail language, on that
#             language's part of the last student data (exp/finetune_T)
#   Stage 24  merge: the base plus each language's adapter (its best dev step), one model that
#             routes each utterance by its language (exp/lda_merged)
#   Stage 25  decode data/test (every language): base, merged and fine-tuned, greedy with full
#             context (test_full) and at the streaming chunk size (test, equal to streaming
#             chunk by chunk); the base also with modified beam search, without and with the LM
#             (test_full_beam, test_full_beam_lm); each earlier iteration data/test_tail; base
#             and merged each data/test_T streaming, chunk by chunk
#   Stage 26  score every decode dir (WER/CER per language)
#   Stage 27  the LDA summary table and RESULTS.md
# Only the stages in [--stage, --stop-stage] run; a stage whose .done marker is newer than its
# inputs reuses its outputs. Logs are in exp/<system>/log/.
#
# Options:
#   --stage N                first stage to run
#   --stop-stage N           last stage to run
#   --tail-langs "T1 T2..."  the tail languages (ISO 639-3), e.g. "kat ell ara"
#   --iterations N           noisy-student iterations
#   --min-confidence X       keep pseudo-labels whose confidence is at least X (0-1; default
#                            `speechml asr pseudo-label`'s)
#   --confidence NAME        the pseudo-labels' confidence: symbols (the search's) or length (also
#                            the hypothesis's length against the expected from its duration)
#   --teacher-search NAME    how the teacher transcribes: beam or greedy (its transducer) or ctc
#                            (its CTC head's best path)
#   --teacher-lm DIR         n-gram LMs fused in the teacher's beam search (stage 21's
#                            data/lm_char; none: no LM)
#   --base-config FILE       AsrTrainConfig of the base
#   --adapter-config FILE    AdapterTrainConfig of the adapters
#   --finetune-config FILE   FinetuneConfig of full fine-tuning
#   --train-opts "OPTS"      more options of the base's training, e.g. "--set train.max_steps=20"
#   --adapter-opts "OPTS"    more options of the adapters' and the full fine-tunings' training
#                            (their configs have no model: e.g. "--set train.max_steps=20")
#   --cmd "RUNNER"           job runner of the training jobs (cmd.sh's train_cmd)
#   --decode-cmd "RUNNER"    job runner of the decoding jobs (cmd.sh's decode_cmd)

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
tail_langs=
iterations=2
min_confidence=
confidence=length
teacher_search=beam
teacher_lm=data/lm_char
base_config=conf/asr_base.yaml
adapter_config=conf/adapter.yaml
finetune_config=conf/finetune.yaml
train_opts=
adapter_opts=
cmd=run_local.sh
decode_cmd=run_local.sh
# shellcheck source=utils/parse_options.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"
# shellcheck source=utils/stage.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/stage.sh"

require_option tail_langs "ISO 639-3 codes of the tail languages"
read -r -d "" -a runner <<<"$cmd" || true
read -r -d "" -a decoder <<<"$decode_cmd" || true
read -r -d "" -a extra <<<"$train_opts" || true
read -r -d "" -a adapter_extra <<<"$adapter_opts" || true
read -r -a tails <<<"$tail_langs"
tail_csv=$(IFS=,; echo "${tails[*]}")
base=exp/base
lda=exp/lda
merged=exp/lda_merged
student=data/tail_student
lm_option=() lm_input=()
if [[ $teacher_lm != none ]]; then
  lm_option=(--lm "$teacher_lm")
  lm_input=("$teacher_lm")
fi
threshold=()
[[ -z $min_confidence ]] || threshold=(--min-confidence "$min_confidence")
adapters=$lda/adapters  # a run of one language writes $lda/adapter
((${#tails[@]} > 1)) || adapters=$lda/adapter

if stage_begin 21 "multilingual base" --signature "$train_opts" \
  exp/.done/21.base data/train_base data/dev data/lang_char data/train/cmvn.json "$base_config"; then
  "${runner[@]}" "$base/log/train.log" \
    speechml asr train --config "$base_config" --train data/train_base --dev data/dev \
    --tokenizer data/lang_char --cmvn data/train/cmvn.json --exp "$base" "${extra[@]}"
  "${runner[@]}" "$base/log/train_lm.log" \
    speechml asr train-lm --tokenizer data/lang_char --data data/train_base --per-language \
    --out data/lm_char
  stage_done exp/.done/21.base
fi

teacher=$base/model
init_adapter=()
iteration_dirs=()
for ((i = 1; i <= iterations; i++)); do
  exp_i=$lda
  ((i == iterations)) || exp_i=${lda}_iter$i
  ((i == iterations)) || iteration_dirs+=("$exp_i")
  if stage_begin 22 "noisy student, iteration $i of $iterations" \
    --signature "tail_langs=$tail_csv min_confidence=$min_confidence confidence=$confidence \
teacher=$teacher_search lm=$teacher_lm base=$train_opts $adapter_opts" \
    "exp/.done/22.student_$i" \
    "$teacher" data/tail_labelled data/tail_untranscribed data/dev_tail "$adapter_config" \
    "${lm_input[@]}"; then
    "${decoder[@]}" "$exp_i/log/confidence_report.log" \
      speechml asr confidence-report --model "$teacher" --data data/dev_tail \
      --confidence symbols length --rates-from data/tail_labelled \
      "${threshold[@]}" --method "$teacher_search" "${lm_option[@]}" \
      --out "$exp_i/confidence_report.txt"
    "${decoder[@]}" "$exp_i/log/pseudo_label.log" \
      speechml asr pseudo-label --model "$teacher" --data data/tail_untranscribed \
      "${threshold[@]}" --method "$teacher_search" "${lm_option[@]}" \
      --confidence "$confidence" --rates-from data/tail_labelled \
      --combine-with data/tail_labelled --out "data/tail_pseudo_$i"
    "${runner[@]}" "$exp_i/log/speed_perturb.log" \
      speechml data speed-perturb "data/tail_pseudo_$i" "${student}_$i"
    "${runner[@]}" "$exp_i/log/train.log" \
      speechml asr train-adapter --config "$adapter_config" --model "$base/model" \
      --lang "$tail_csv" --train "${student}_$i" --dev data/dev_tail --exp "$exp_i" \
      "${init_adapter[@]}" "${adapter_extra[@]}"
    stage_done "exp/.done/22.student_$i"
  fi
  teacher=$exp_i/model
  init_adapter=(--init-adapter "$exp_i/${adapters##*/}")
done

finetunes=()
for t in "${tails[@]}"; do finetunes+=("exp/finetune_$t"); done
if stage_begin 23 "full fine-tuning of each tail language, same data" \
  --signature "base=$train_opts $adapter_opts" \
  exp/.done/23.finetune \
  "$base/model" "${student}_$iterations" "$finetune_config"; then
  for t in "${tails[@]}"; do
    "${runner[@]}" "exp/finetune_$t/log/subset.log" \
      speechml data subset "${student}_$iterations" "data/${t}_student" --lang "$t"
    "${runner[@]}" "exp/finetune_$t/log/train.log" \
      speechml asr train --config "$finetune_config" --init "$base/model" \
      --train "data/${t}_student" --dev "data/dev_$t" --exp "exp/finetune_$t" \
      "${adapter_extra[@]}"
  done
  stage_done exp/.done/23.finetune
fi

if stage_begin 24 "merge the adapters" exp/.done/24.merge "$base/model" "$adapters"; then
  "${runner[@]}" "$merged/log/merge.log" \
    speechml asr merge --model "$base/model" --adapters "$adapters" --out "$merged/model"
  stage_done exp/.done/24.merge
fi

# system:method:test set:decode dir:options of every decoding: every language with full context
# and at the streaming chunk size (the batched causal pass, equal to streaming); the base also
# with beam search, without and with the LM; the earlier iterations the tail languages; base and
# merged each tail language streaming chunk by chunk
full="--chunk-size 0"
decodes=()
for system in "$base" "$merged" "${finetunes[@]}"; do
  decodes+=("$system:greedy:test:$system/decode_test_full:$full")
  decodes+=("$system:greedy:test:$system/decode_test:")
done
decodes+=("$base:beam:test:$base/decode_test_full_beam:$full")
decodes+=("$base:beam:test:$base/decode_test_full_beam_lm:$full --lm data/lm_char")
for system in "${iteration_dirs[@]}"; do
  decodes+=("$system:greedy:test_tail:$system/decode_test_tail:")
done
for system in "$base" "$merged"; do
  for t in "${tails[@]}"; do
    decodes+=("$system:streaming:test_$t:$system/decode_test_${t}_streaming:")
  done
done
models=()
for system in "$base" "$merged" "${finetunes[@]}" "${iteration_dirs[@]}"; do
  models+=("$system/model")
done
if stage_begin 25 "decode" exp/.done/25.decode data/test data/test_tail "${models[@]}"; then
  for entry in "${decodes[@]}"; do
    IFS=: read -r system method set out options <<<"$entry"
    read -r -a options <<<"$options" || true
    "${decoder[@]}" "$system/log/${out##*/}.log" \
      speechml asr decode --model "$system/model" --data "data/$set" --out "$out" \
      --method "$method" "${options[@]}"
  done
  stage_done exp/.done/25.decode
fi

if stage_begin 26 "score" exp/.done/26.score exp/.done/25.decode; then
  for entry in "${decodes[@]}"; do
    IFS=: read -r system method set out _ <<<"$entry"
    "${decoder[@]}" "$system/log/score_${out##*/}.log" \
      speechml score wer --data "data/$set" --decode-dir "$out"
  done
  stage_done exp/.done/26.score
fi

if stage_begin 27 "LDA summary and RESULTS.md"; then
  "${runner[@]}" exp/results/log/lda_report.log \
    speechml asr lda-report --lang "$tail_csv" --base "$base" --lda "$lda" --merged "$merged" \
    --finetune "${finetunes[@]}" --iterations "${iteration_dirs[@]}" \
    --pseudo-labels data/tail_pseudo_* --out exp/lda_summary.md
  write_results "${runner[@]}"
  stage_done
fi
