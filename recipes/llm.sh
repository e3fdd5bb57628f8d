#!/usr/bin/env bash
# Audio-LLM instruction tuning (Typhoon-Audio) stages 50-54: does adding target-language data
# to the instruction mixture improve instruction following in the target language without
# hurting English? Two systems at the same budget: an English-only mixture and an English +
# LANG mixture, each with projector alignment then LoRA instruction tuning, on the frozen
# encoder of the multilingual base (exp/base/model) and an LLM (offline: a tiny one pretrained
# here; --llm-model takes a real one by path).
#
# Usage: llm.sh --lang ISO [options]   (run from an egs dir after lda.sh's stage 21)
#   Stage 50  instruction mixtures (speechml llm mixture, --mix-config): training from
#             data/train_base (the head languages and LANG's labelled utterances) English-only
#             (data/llm/train_eng) and English + LANG (data/llm/train_eng_LANG); dev and test
#             from data/dev and data/test (--dev-mix-config, --test-mix-config: English and
#             LANG, prompts in both languages, every text task equally often and spoken
#             instructions as often as all of them, read by the voice variants of the corpus's
#             dev and test speakers); each mixture's spoken instructions are synthesised into
#             its data dir spoken/
#   Stage 51  the tiny LLM and its chat tokenizer pretrained on data/train_base's transcripts
#             (exp/llm_lm; skipped with --llm-model)
#   Stage 52  for each mixture: projector alignment on its ASR examples
#             (exp/llm_<mix>_align), then LoRA instruction tuning (exp/llm_<mix>)
#   Stage 53  answer the test set with each (exp/llm_<mix>/eval_test)
#   Stage 54  the audio-LLM summary (exp/llm_summary.md) and RESULTS.md
# Only the stages in [--stage, --stop-stage] run; a stage whose .done marker is newer than its
# inputs reuses its outputs. Logs are in exp/<system>/log/.
#
# Options:
#   --stage N              first stage to run
#   --stop-stage N         last stage to run
#   --nj N                 espeak-ng jobs synthesising the spoken instructions (default 2)
#   --lang ISO             the target language (ISO 639-3)
#   --llm-model DIR        a causal LM dir (and tokenizer) instead of stage 51's tiny LLM
#   --encoder-from DIR     the speech encoder: a recogniser dir (conformer), or a transformers
#                          dir with --llm-opts "--set encoder=hf|whisper" (default exp/base/model)
#   --mix-config FILE      MixtureConfig of the training mixtures (its prompts, weights)
#   --dev-mix-config FILE  MixtureConfig of the dev set (from data/dev)
#   --test-mix-config FILE MixtureConfig of the test set (from data/test)
#   --mix-opts "OPTS"      more options of every `speechml llm mixture` (after the stage's
#                          own, e.g. "--set examples=200" for a quick run)
#   --lm-config FILE       LmPretrainConfig of the tiny LLM
#   --llm-config FILE      AudioLlmConfig of both training stages
#   --llm-opts "OPTS"      more options of every `speechml llm train|evaluate`
#   --lm-opts "OPTS"       more options of `speechml llm pretrain-lm` (the tiny LLM)
#   --cmd "RUNNER"         job runner of the training jobs (cmd.sh's train_cmd)
#   --decode-cmd "RUNNER"  job runner of the evaluation jobs

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
nj=2
lang=
llm_model=
encoder_from=exp/base/model
mix_config=conf/llm_mix.yaml
dev_mix_config=conf/llm_mix_dev.yaml
test_mix_config=conf/llm_mix_test.yaml
lm_config=conf/llm_lm.yaml
llm_config=conf/llm.yaml
llm_opts=
lm_opts=
mix_opts=
cmd=run_local.sh
decode_cmd=run_local.sh
# shellcheck source=utils/parse_options.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"
# shellcheck source=utils/stage.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/stage.sh"

require_option lang "ISO 639-3 code of the target language"
read -r -d "" -a runner <<<"$cmd" || true
read -r -d "" -a decoder <<<"$decode_cmd" || true
read -r -d "" -a extra <<<"$llm_opts" || true
read -r -d "" -a lm_extra <<<"$lm_opts" || true
read -r -d "" -a mix_extra <<<"$mix_opts" || true
llm=${llm_model:-exp/llm_lm/model}
# mixture name:the --set options that make it from --mix-config
mixtures=("eng:--set language_weights.$lang=0" "eng_$lang:")

if stage_begin 50 "instruction mixtures" --signature "lang=$lang${mix_opts:+ $mix_opts}" exp/.done/50.llm_mix \
  data/train_base data/dev data/test "$mix_config" "$dev_mix_config" "$test_mix_config"; then
  for entry in "${mixtures[@]}"; do
    IFS=: read -r name options <<<"$entry"
    read -r -a sets <<<"$options" || true
    "${runner[@]}" "exp/llm_$name/log/mixture.log" \
      speechml llm mixture --config "$mix_config" --data data/train_base --nj "$nj" \
      --out "data/llm/train_$name" "${sets[@]}" "${mix_extra[@]}"
  done
  for split in dev test; do
    config=$dev_mix_config
    [[ $split == dev ]] || config=$test_mix_config
    "${runner[@]}" "exp/llm_lm/log/mixture_$split.log" \
      speechml llm mixture --config "$config" --data "data/$split" --out "data/llm/$split" \
      --nj "$nj" "${mix_extra[@]}"
  done
  stage_done exp/.done/50.llm_mix
fi

if [[ -z $llm_model ]] && stage_begin 51 "tiny LLM" --signature "$lm_opts" exp/.done/51.llm_lm \
  data/train_base "$lm_config"; then
  "${runner[@]}" exp/llm_lm/log/train.log \
    speechml llm pretrain-lm --config "$lm_config" --text data/train_base --exp exp/llm_lm \
    "${lm_extra[@]}"
  stage_done exp/.done/51.llm_lm
fi

model_options=(--config "$llm_config" --llm "$llm" --encoder-from "$encoder_from" "${extra[@]}")
if stage_begin 52 "alignment and instruction tuning" --signature "llm=$llm $llm_opts" \
  exp/.done/52.llm_train exp/.done/50.llm_mix "$llm" "$encoder_from" "$llm_config"; then
  for entry in "${mixtures[@]}"; do
    IFS=: read -r name _ <<<"$entry"
    "${runner[@]}" "exp/llm_${name}_align/log/train.log" \
      speechml llm train --stage align --train "data/llm/train_$name" --dev data/llm/dev \
      --exp "exp/llm_${name}_align" "${model_options[@]}"
    "${runner[@]}" "exp/llm_$name/log/train.log" \
      speechml llm train --stage instruct --init-adapter "exp/llm_${name}_align/adapter" \
      --train "data/llm/train_$name" --dev data/llm/dev --exp "exp/llm_$name" \
      "${model_options[@]}"
  done
  stage_done exp/.done/52.llm_train
fi

if stage_begin 53 "evaluate on data/llm/test" exp/.done/53.llm_eval exp/.done/52.llm_train; then
  for entry in "${mixtures[@]}"; do
    IFS=: read -r name _ <<<"$entry"
    "${decoder[@]}" "exp/llm_$name/log/eval_test.log" \
      speechml llm evaluate --data data/llm/test --adapter "exp/llm_$name/adapter" \
      --out "exp/llm_$name/eval_test" "${model_options[@]}"
  done
  stage_done exp/.done/53.llm_eval
fi

if stage_begin 54 "audio-LLM summary and RESULTS.md"; then
  "${runner[@]}" exp/results/log/llm_report.log \
    speechml llm report --title "Audio LLM: English-only vs English + $lang instructions" \
    --systems "English only=exp/llm_eng/eval_test" "English + $lang=exp/llm_eng_$lang/eval_test" \
    --out exp/llm_summary.md
  write_results "${runner[@]}"
  stage_done
fi
