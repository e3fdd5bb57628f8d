#!/usr/bin/env bash
# Language-dependent adapter (LDA) stages 20-28: a frozen multilingual streaming transducer, an
# adapter for the tail language trained with noisy-student pseudo-labels, full fine-tuning on the
# same data and budget for comparison, the merged multi-locale model, decoding and scores.
#
# Usage: lda.sh --lang ISO [options]   (run from an egs dir after data.sh; run.sh calls it)
#   Stage 20  data plan: data/train_base (head languages + --labelled utterances of LANG),
#             data/LANG_labelled, data/LANG_untranscribed (the rest of LANG, no text),
#             data/dev_LANG, data/test_LANG
#   Stage 21  train the multilingual base (exp/base): a streaming Conformer transducer trained
#             in one joint stage (pruned RNN-T + auxiliary CTC) with dynamic chunks, so that one
#             model decodes streaming and with full context; and the n-gram LMs of shallow
#             fusion (data/lm_char, one a language, from the training transcripts)
#   Stage 22  noisy student, for each iteration: the teacher (the base's full-context pass,
#             then the last adapted model's; by default its transducer, see --teacher-search)
#             pseudo-labels data/LANG_untranscribed; confident hypotheses
#             plus data/LANG_labelled (data/LANG_pseudo_I), speed-perturbed
#             (data/LANG_student_I), train the LANG adapter on the frozen base
#   Stage 23  full fine-tuning of every weight of the base on the same data and steps
#   Stage 24  merge: the base plus the LANG adapter (its best dev checkpoint), one model that
#             routes each utterance by its language
#   Stage 25  decode data/test (every language): base, merged and fine-tuned, greedy with full
#             context (test_full) and at the streaming chunk size (test, equal to streaming
#             chunk by chunk); the base also with modified beam search, without and with the LM
#             (test_full_beam, test_full_beam_lm); base and merged also data/test_LANG
#             streaming, chunk by chunk
#   Stage 26  score every decode dir (WER/CER per language)
#   Stage 27  the LDA summary table and RESULTS.md
# Only the stages in [--stage, --stop-stage] run; a stage whose .done marker is newer than its
# inputs reuses its outputs. Logs are in exp/<system>/log/.
#
# Options:
#   --stage N                first stage to run
#   --stop-stage N           last stage to run
#   --lang ISO               the tail language (ISO 639-3)
#   --labelled N             labelled utterances of the tail language in the base's training data
#   --iterations N           noisy-student iterations
#   --min-confidence X       keep pseudo-labels whose confidence is at least X (0-1)
#   --teacher-search NAME    how the teacher transcribes: greedy or beam (its transducer) or ctc
#                            (its CTC head's best path)
#   --base-config FILE       AsrTrainConfig of the base
#   --adapter-config FILE    AsrTrainConfig of the adapter (its train, spec_augment, adapter)
#   --finetune-config FILE   AsrTrainConfig of full fine-tuning (its train, spec_augment)
#   --train-opts "OPTS"      more options of every `speechml asr train*`, e.g. "--set train.max_steps=20"
#   --cmd "RUNNER"           job runner of the training jobs (cmd.sh's train_cmd)
#   --decode-cmd "RUNNER"    job runner of the decoding jobs (cmd.sh's decode_cmd)

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
lang=
labelled=300
iterations=1
min_confidence=0.5
teacher_search=greedy
base_config=conf/asr_base.yaml
adapter_config=conf/adapter.yaml
finetune_config=conf/finetune.yaml
train_opts=
cmd=run_local.sh
decode_cmd=run_local.sh
# shellcheck source=utils/parse_options.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"
# shellcheck source=utils/stage.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/stage.sh"

require_option lang "ISO 639-3 code of the tail language"
read -r -d "" -a runner <<<"$cmd" || true
read -r -d "" -a decoder <<<"$decode_cmd" || true
read -r -d "" -a extra <<<"$train_opts" || true
base=exp/base
lda=exp/lda_$lang
finetune=exp/finetune_$lang
merged=exp/lda_merged
student=data/${lang}_student

if stage_begin 20 "data plan of the tail language" --signature "lang=$lang labelled=$labelled" \
  data/.done/20.tail data/train data/dev data/test; then
  "${runner[@]}" exp/data_prep/log/tail_split.log \
    speechml asr tail-split --data data/train --lang "$lang" --labelled "$labelled" --out-dir data
  for x in dev test; do
    "${runner[@]}" "exp/data_prep/log/subset_${x}_$lang.log" \
      speechml data subset "data/$x" "data/${x}_$lang" --lang "$lang"
  done
  stage_done data/.done/20.tail
fi

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
for ((i = 1; i <= iterations; i++)); do
  exp_i=$lda
  ((i == iterations)) || exp_i=${lda}_iter$i
  if stage_begin 22 "noisy student, iteration $i of $iterations" \
    --signature "lang=$lang min_confidence=$min_confidence teacher=$teacher_search $train_opts" \
    "exp/.done/22.student_$i" \
    "$teacher" "data/${lang}_labelled" "data/${lang}_untranscribed" "$adapter_config"; then
    "${decoder[@]}" "$exp_i/log/pseudo_label.log" \
      speechml asr pseudo-label --model "$teacher" --data "data/${lang}_untranscribed" \
      --min-confidence "$min_confidence" --method "$teacher_search" \
      --combine-with "data/${lang}_labelled" \
      --out "data/${lang}_pseudo_$i"
    "${runner[@]}" "$exp_i/log/speed_perturb.log" \
      speechml data speed-perturb "data/${lang}_pseudo_$i" "${student}_$i"
    "${runner[@]}" "$exp_i/log/train.log" \
      speechml asr train-adapter --config "$adapter_config" --model "$base/model" \
      --lang "$lang" --train "${student}_$i" --dev "data/dev_$lang" --exp "$exp_i" "${extra[@]}"
    stage_done "exp/.done/22.student_$i"
  fi
  teacher=$exp_i/model
done

if stage_begin 23 "full fine-tuning, same data and budget" --signature "$train_opts" \
  exp/.done/23.finetune \
  "$base/model" "${student}_$iterations" "$finetune_config"; then
  "${runner[@]}" "$finetune/log/train.log" \
    speechml asr train --config "$finetune_config" --init "$base/model" \
    --train "${student}_$iterations" --dev "data/dev_$lang" --exp "$finetune" "${extra[@]}"
  stage_done exp/.done/23.finetune
fi

if stage_begin 24 "merge the adapters" exp/.done/24.merge "$base/model" "$lda/adapter"; then
  "${runner[@]}" "$merged/log/merge.log" \
    speechml asr merge --model "$base/model" --adapters "$lda/adapter" --out "$merged/model"
  stage_done exp/.done/24.merge
fi

# system:method:test set:decode dir:options of every decoding: every language with full context
# and at the streaming chunk size (the batched causal pass, equal to streaming); the base also
# with beam search, without and with the LM; the tail language also streaming chunk by chunk
full="--chunk-size 0"
decodes=()
for system in "$base" "$merged" "$finetune"; do
  decodes+=("$system:greedy:test:$system/decode_test_full:$full")
  decodes+=("$system:greedy:test:$system/decode_test:")
done
decodes+=("$base:beam:test:$base/decode_test_full_beam:$full")
decodes+=("$base:beam:test:$base/decode_test_full_beam_lm:$full --lm data/lm_char")
for system in "$base" "$merged"; do
  decodes+=("$system:streaming:test_$lang:$system/decode_test_${lang}_streaming:")
done
if stage_begin 25 "decode" exp/.done/25.decode data/test "data/test_$lang" "$base/model" \
  "$merged/model" "$finetune/model"; then
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
    speechml asr lda-report --lang "$lang" --base "$base" --lda "$lda" --merged "$merged" \
    --finetune "$finetune" --pseudo-labels "data/${lang}"_pseudo_* --out exp/lda_summary.md
  write_results "${runner[@]}"
  stage_done
fi
