#!/usr/bin/env bash
# wav2vec2 continued pretraining (CPT) stages 40-45: does continuing the self-supervised
# pretraining of a multilingual wav2vec2 on the target language's untranscribed audio help its
# CTC fine-tuning on little labelled data, and does a related language's labelled data help?
# Offline, no XLS-R can be downloaded: stage 40 pretrains a small multilingual wav2vec2 on the
# other languages' audio as its stand-in; --init-model takes a real XLS-R or MMS dir instead.
#
# Usage: cpt.sh --lang ISO [options]   (run from an egs dir after data.sh's stage 4)
#   Stage 40  the stand-in for XLS-R: pretrain on the audio of every language but LANG
#             (data/ssl_multi, exp/w2v_multi); skipped with --init-model
#   Stage 41  continued pretraining on LANG's audio, untranscribed and labelled
#             (data/ssl_LANG, exp/w2v_cpt_LANG)
#   Stage 42  CTC fine-tuning on data/LANG_labelled, same config and budget each:
#             exp/w2v_ft_LANG (the starting model, no CPT), exp/w2v_cpt_ft_LANG (after CPT),
#             exp/w2v_cpt_rel_ft_LANG (after CPT, --related-lang's labelled data mixed in)
#   Stage 43  decode data/test_LANG with each (greedy CTC)
#   Stage 44  score them
#   Stage 45  the CPT summary (exp/cpt_summary.md, pretraining diagnostics) and RESULTS.md
# Only the stages in [--stage, --stop-stage] run; a stage whose .done marker is newer than its
# inputs reuses its outputs. Logs are in exp/<system>/log/.
#
# Options:
#   --stage N                 first stage to run
#   --stop-stage N            last stage to run
#   --lang ISO                the target language (ISO 639-3)
#   --related-lang ISO        the language whose labelled data is mixed in (CtcConfig's
#                             related_ratio; no language of the default corpus is related to
#                             Georgian, so there it measures the mechanism)
#   --init-model DIR          a pretrained wav2vec2 dir (XLS-R, MMS) instead of stage 40's
#   --pretrain-config FILE    PretrainConfig of the stand-in
#   --cpt-config FILE         PretrainConfig of the continued pretraining
#   --ctc-config FILE         CtcConfig of the fine-tuning runs
#   --ssl-opts "OPTS"         more options of every `speechml ssl pretrain|finetune`
#   --cmd "RUNNER"            job runner of the training jobs (cmd.sh's train_cmd)
#   --decode-cmd "RUNNER"     job runner of the decoding and scoring jobs

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
lang=
related_lang=
init_model=
pretrain_config=conf/w2v_pretrain.yaml
cpt_config=conf/w2v_cpt.yaml
ctc_config=conf/w2v_ctc.yaml
ssl_opts=
cmd=run_local.sh
decode_cmd=run_local.sh
# shellcheck source=utils/parse_options.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"
# shellcheck source=utils/stage.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/stage.sh"

require_option lang "ISO 639-3 code of the target language"
require_option related_lang "ISO 639-3 code of the related language"
if [[ $related_lang == "$lang" ]]; then
  log "error: --related-lang must differ from --lang ($lang)"
  exit 1
fi
read -r -d "" -a runner <<<"$cmd" || true
read -r -d "" -a decoder <<<"$decode_cmd" || true
read -r -d "" -a extra <<<"$ssl_opts" || true
multi=exp/w2v_multi
cpt=exp/w2v_cpt_$lang
start=${init_model:-$multi/model}

if [[ -z $init_model ]] && stage_begin 40 "wav2vec2 stand-in for XLS-R" \
  --signature "lang=$lang $ssl_opts" exp/.done/40.w2v_multi data/train data/dev \
  "$pretrain_config"; then
  mkdir -p data/ssl_multi
  awk -v lang="$lang" '$2 != lang {print $1}' data/train/utt2lang >data/ssl_multi/utts
  "${runner[@]}" "$multi/log/subset.log" \
    speechml data subset data/train data/ssl_multi --utt-list data/ssl_multi/utts
  "${runner[@]}" "$multi/log/train.log" \
    speechml ssl pretrain --config "$pretrain_config" --train data/ssl_multi --dev data/dev \
    --exp "$multi" "${extra[@]}"
  stage_done exp/.done/40.w2v_multi
fi

if stage_begin 41 "continued pretraining on $lang" --signature "start=$start $ssl_opts" \
  exp/.done/41.w2v_cpt "$start" data/train "$cpt_config"; then
  "${runner[@]}" "$cpt/log/subset.log" \
    speechml data subset data/train "data/ssl_$lang" --lang "$lang"
  "${runner[@]}" "$cpt/log/train.log" \
    speechml ssl pretrain --config "$cpt_config" --init "$start" --train "data/ssl_$lang" \
    --dev "data/dev_$lang" --exp "$cpt" "${extra[@]}"
  stage_done exp/.done/41.w2v_cpt
fi

# system:starting model:related-language data dir (or none) of each fine-tuning run
systems=(
  "exp/w2v_ft_$lang:$start:"
  "exp/w2v_cpt_ft_$lang:$cpt/model:"
  "exp/w2v_cpt_rel_ft_$lang:$cpt/model:data/ssl_labelled_$related_lang"
)
if stage_begin 42 "CTC fine-tuning" --signature "start=$start related=$related_lang $ssl_opts" \
  exp/.done/42.w2v_ctc "$start" exp/.done/41.w2v_cpt "data/${lang}_labelled" "$ctc_config"; then
  "${runner[@]}" "exp/w2v_cpt_rel_ft_$lang/log/subset.log" \
    speechml data subset data/train_base "data/ssl_labelled_$related_lang" --lang "$related_lang"
  for entry in "${systems[@]}"; do
    IFS=: read -r system init related <<<"$entry"
    related_option=()
    [[ -z $related ]] || related_option=(--related "$related")
    "${runner[@]}" "$system/log/train.log" \
      speechml ssl finetune --config "$ctc_config" --init "$init" \
      --train "data/${lang}_labelled" --dev "data/dev_$lang" --exp "$system" \
      "${related_option[@]}" "${extra[@]}"
  done
  stage_done exp/.done/42.w2v_ctc
fi

if stage_begin 43 "decode data/test_$lang" exp/.done/43.w2v_decode exp/.done/42.w2v_ctc; then
  for entry in "${systems[@]}"; do
    IFS=: read -r system _ _ <<<"$entry"
    "${decoder[@]}" "$system/log/decode_test_$lang.log" \
      speechml ssl decode --model "$system/model" --data "data/test_$lang" \
      --out "$system/decode_test_$lang"
  done
  stage_done exp/.done/43.w2v_decode
fi

if stage_begin 44 "score" exp/.done/44.w2v_score exp/.done/43.w2v_decode; then
  for entry in "${systems[@]}"; do
    IFS=: read -r system _ _ <<<"$entry"
    "${decoder[@]}" "$system/log/score_test_$lang.log" \
      speechml score wer --data "data/test_$lang" --decode-dir "$system/decode_test_$lang"
  done
  stage_done exp/.done/44.w2v_score
fi

if stage_begin 45 "CPT summary and RESULTS.md"; then
  pretraining=("continued on $lang=$cpt")
  [[ -n $init_model ]] || pretraining=("stand-in for XLS-R=$multi" "${pretraining[@]}")
  "${runner[@]}" exp/results/log/cpt_report.log \
    speechml ssl report --lang "$lang" --out exp/cpt_summary.md \
    --systems "fine-tuning only=exp/w2v_ft_$lang" "CPT + fine-tuning=exp/w2v_cpt_ft_$lang" \
    "CPT + fine-tuning + $related_lang data=exp/w2v_cpt_rel_ft_$lang" \
    --pretraining "${pretraining[@]}"
  write_results "${runner[@]}"
  stage_done
fi
