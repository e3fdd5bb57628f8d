#!/usr/bin/env bash
# Classification stages 30-36: a SpeechTaxi-style comparison of three ways to put a semantic
# class on an utterance, in four settings, per language.
#   e2e     end to end: the base recogniser's speech encoder, pooling over time and a linear head
#   ca      cascade: the recogniser (--asr-model), then a character n-gram classifier of its text
#   ca_rom  romanized cascade: a recogniser of uroman-romanized text, then an n-gram classifier
#           trained on romanized text
#   ca_nn   cascade with a neural text classifier (a small XLM-R-layout transformer and its
#           tokenizer, trained from scratch) instead of the n-gram one: does it earn its cost?
#           (costly on CPU: by default only for the multilingual setting, see --neural-trains)
# Settings (speechml cls settings): mono (train and test on L), zero-shot (train on L, test on
# every other language), multi (train on every language) and held-out (train on every language
# but --lang, test on --lang; with the default languages, its script occurs in no other).
#
# Usage: cls.sh --lang ISO [options]   (run from an egs dir after lda.sh; run.sh calls it)
#   Stage 30  settings: data/cls/{train,dev,test}_<L>, train_all, train_heldout, and
#             data/cls/trainings.txt, one line per model: <train> <dev> <test-lang>...
#   Stage 31  romanized recogniser: data/train_base_rom and data/dev_rom (uroman), their
#             character tokenizer data/lang_char_rom, and exp/asr_rom (the base's encoder with a
#             new predictor, joiner and CTC head, every weight trained on romanized text)
#   Stage 32  decode each data/cls/test_<L> with --asr-model into exp/cls/asr/decode_<L> and with
#             exp/asr_rom/model into exp/cls/asr_rom/decode_<L>
#   Stage 33  cascades, for each line of trainings.txt: an n-gram classifier of the train dir's
#             text (exp/cls/ca/<train>) and of its romanized text (data/cls_rom/<train>,
#             exp/cls/ca_rom/<train>), each classifying the matching recogniser's hypotheses of
#             every test language into decode_<L>; for the train dirs of --neural-trains also
#             the neural text classifier (exp/cls/ca_nn/<train>) on the native recogniser's text
#             (a config with an encoder section first pretrains its encoder and adapts its
#             vocabulary to --lang's training text, read without labels: conf/cls_text_xfer.yaml)
#   Stage 34  end to end, for each line: train a speech classifier from the base's encoder
#             (exp/cls/e2e/<train>) and classify every test language's audio into decode_<L>
#   Stage 35  score every exp/cls/<method>/<train>/decode_<L> against data/cls/test_<L>
#   Stage 36  the summary (exp/cls_summary.md, .json, a zero-shot heat map per method in
#             exp/<method>_zero_shot.png) and RESULTS.md with lda.sh's summary and this one
# Only the stages in [--stage, --stop-stage] run; a stage whose .done marker is newer than its
# inputs reuses its outputs (stages 33 and 34 keep a marker per train dir). Logs are in
# exp/asr_rom/log/, exp/cls/log/ and exp/cls/<method>/[<train>/]log/.
#
# Options:
#   --stage N              first stage to run
#   --stop-stage N         last stage to run
#   --lang ISO             the held-out language (ISO 639-3): the tail language
#   --langs "L1,L2,..."    languages to compare, in table order (default: every language of
#                          data/train)
#   --base-model DIR       recogniser whose encoder starts exp/asr_rom and the e2e classifiers
#   --asr-model DIR        recogniser of the cascade (it routes each language to its adapter)
#   --rom-config FILE      AsrTrainConfig of the romanized recogniser
#   --ngram-config FILE    NgramConfig of the cascades' text classifiers
#   --text-config FILE     TextClassifierConfig of the neural cascade (ca_nn); e.g.
#                          conf/cls_text_xfer.yaml with --neural-trains train_heldout
#   --neural-trains "T1 T2"  train dirs of data/cls that also get ca_nn (default "train_all";
#                          e.g. "train_eng train_all"; "" for none)
#   --e2e-config FILE      E2eConfig of the end-to-end classifiers
#   --train-opts "OPTS"    more options of `speechml asr train` (the romanized recogniser)
#   --e2e-opts "OPTS"      more options of `speechml cls train-e2e`, e.g.
#                          "--set train.max_steps=20"
#   --text-opts "OPTS"     more options of `speechml cls train-text` (ca_nn)
#   --cmd "RUNNER"         job runner of the training jobs (cmd.sh's train_cmd)
#   --decode-cmd "RUNNER"  job runner of the decoding, classifying and scoring jobs

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
lang=
langs=
base_model=exp/base/model
asr_model=exp/lda_merged/model
rom_config=conf/asr_rom.yaml
ngram_config=conf/cls_ngram.yaml
text_config=conf/cls_text.yaml
neural_trains=train_all
e2e_config=conf/cls_e2e.yaml
train_opts=
e2e_opts=
text_opts=
cmd=run_local.sh
decode_cmd=run_local.sh
# shellcheck source=utils/parse_options.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"
# shellcheck source=utils/stage.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/stage.sh"

require_option lang "ISO 639-3 code of the held-out language"
read -r -d "" -a runner <<<"$cmd" || true
read -r -d "" -a decoder <<<"$decode_cmd" || true
read -r -d "" -a rom_extra <<<"$train_opts" || true
read -r -d "" -a e2e_extra <<<"$e2e_opts" || true
read -r -d "" -a text_extra <<<"$text_opts" || true
settings=data/cls
settings_rom=data/cls_rom
rom=exp/asr_rom
cls=exp/cls

langs_option=()
[[ -z $langs ]] || langs_option=(--langs "$langs")
if stage_begin 30 "classification settings" --signature "langs=$langs held-out=$lang" \
  data/.done/30.cls_settings data/train data/dev data/test; then
  "${runner[@]}" "$cls/log/settings.log" \
    speechml cls settings --train data/train --dev data/dev --test data/test \
    "${langs_option[@]}" --held-out "$lang" --out-dir "$settings"
  stage_done data/.done/30.cls_settings
fi

if stage_begin 31 "romanized recogniser" --signature "base=$base_model $train_opts" \
  exp/.done/31.asr_rom data/train_base data/dev "$base_model" "$rom_config"; then
  for x in train_base dev; do
    "${runner[@]}" "$rom/log/romanize_$x.log" speechml text romanize "data/$x" "data/${x}_rom"
  done
  "${runner[@]}" "$rom/log/train_tokenizer.log" \
    speechml data train-tokenizer --kind char --out data/lang_char_rom data/train_base_rom
  "${runner[@]}" "$rom/log/train.log" \
    speechml asr train --config "$rom_config" --init-encoder "$base_model" \
    --tokenizer data/lang_char_rom --train data/train_base_rom --dev data/dev_rom --exp "$rom" \
    "${rom_extra[@]}"
  stage_done exp/.done/31.asr_rom
fi

# The lines of trainings.txt ("<train> <dev> <test-lang>...") and every language tested.
trainings=()
test_langs=()
if ((stage <= 35 && stop_stage >= 32)); then
  if [[ ! -f $settings/settings.json ]]; then
    log "error: $settings/settings.json is missing: run stage 30 first"
    exit 1
  fi
  mapfile -t trainings <"$settings/trainings.txt"
  for line in "${trainings[@]}"; do
    read -r -a fields <<<"$line"
    for code in "${fields[@]:2}"; do
      [[ " ${test_langs[*]} " == *" $code "* ]] || test_langs+=("$code")
    done
  done
fi

# method:decode dir root:recogniser:settings dir of each cascade (the texts it trains on)
cascades=("ca:$cls/asr:$asr_model:$settings" "ca_rom:$cls/asr_rom:$rom/model:$settings_rom")
if stage_begin 32 "decode the test languages" --signature "asr=$asr_model" \
  exp/.done/32.cls_decode data/.done/30.cls_settings "$asr_model" "$rom/model"; then
  for code in "${test_langs[@]}"; do
    for entry in "${cascades[@]}"; do
      IFS=: read -r _ asr_dir model _ <<<"$entry"
      "${decoder[@]}" "$asr_dir/log/decode_$code.log" \
        speechml asr decode --model "$model" --data "$settings/test_$code" \
        --out "$asr_dir/decode_$code"
    done
  done
  stage_done exp/.done/32.cls_decode
fi

for line in "${trainings[@]}"; do
  read -r -a fields <<<"$line"
  train=${fields[0]}
  codes=("${fields[@]:2}")  # the test languages of this training set
  neural=false
  [[ " $neural_trains " != *" $train "* ]] || neural=true
  if stage_begin 33 "cascades trained on $train" --signature "neural=$neural $text_opts" \
    "exp/.done/33.cascades_$train" "$settings/$train" "$ngram_config" "$text_config" \
    exp/.done/32.cls_decode; then
    "${runner[@]}" "$cls/ca_rom/$train/log/romanize.log" \
      speechml text romanize "$settings/$train" "$settings_rom/$train"
    for entry in "${cascades[@]}"; do
      IFS=: read -r method asr_dir _ texts <<<"$entry"
      exp_dir=$cls/$method/$train
      "${runner[@]}" "$exp_dir/log/train.log" \
        speechml cls train-ngram --config "$ngram_config" --train "$texts/$train" --exp "$exp_dir"
      "${decoder[@]}" "$exp_dir/log/predict.log" \
        speechml cls predict --model "$exp_dir/model" --data "${codes[@]/#/$settings/test_}" \
        --out "${codes[@]/#/$exp_dir/decode_}" --text-source "${codes[@]/#/$asr_dir/decode_}"
    done
    if [[ $neural == true ]]; then
      exp_dir=$cls/ca_nn/$train
      "${runner[@]}" "$exp_dir/log/train.log" \
        speechml cls train-text --config "$text_config" --train "$settings/$train" \
        --dev "$settings/${fields[1]}" --exp "$exp_dir" --unlabelled "$settings/train_$lang" \
        "${text_extra[@]}"
      "${decoder[@]}" "$exp_dir/log/predict.log" \
        speechml cls predict --model "$exp_dir/model" --data "${codes[@]/#/$settings/test_}" \
        --out "${codes[@]/#/$exp_dir/decode_}" --text-source "${codes[@]/#/$cls/asr/decode_}"
    fi
    stage_done "exp/.done/33.cascades_$train"
  fi
done

for line in "${trainings[@]}"; do
  read -r -a fields <<<"$line"
  train=${fields[0]}
  codes=("${fields[@]:2}")
  exp_dir=$cls/e2e/$train
  if stage_begin 34 "end-to-end classifier trained on $train" \
    --signature "base=$base_model $e2e_opts" "exp/.done/34.e2e_$train" \
    data/.done/30.cls_settings "$base_model" "$e2e_config"; then
    "${runner[@]}" "$exp_dir/log/train.log" \
      speechml cls train-e2e --config "$e2e_config" --init "$base_model" \
      --train "$settings/$train" --dev "$settings/${fields[1]}" --exp "$exp_dir" "${e2e_extra[@]}"
    "${decoder[@]}" "$exp_dir/log/predict.log" \
      speechml cls predict --model "$exp_dir/model" --data "${codes[@]/#/$settings/test_}" \
      --out "${codes[@]/#/$exp_dir/decode_}"
    stage_done "exp/.done/34.e2e_$train"
  fi
done

# Every decode dir of a classifier (those of the recognisers are one level up).
shopt -s nullglob
decode_dirs=("$cls"/*/*/decode_*/)
shopt -u nullglob
decode_dirs=("${decode_dirs[@]%/}")
if stage_begin 35 "score the classifiers" exp/.done/35.cls_score "${decode_dirs[@]}"; then
  if ((${#decode_dirs[@]} == 0)); then
    log "error: no $cls/<method>/<train>/decode_<lang> to score: run stages 33 and 34 first"
    exit 1
  fi
  for code in "${test_langs[@]}"; do  # one call per language over every classifier's dirs
    "${decoder[@]}" "$cls/log/score_$code.log" \
      speechml score cls --data "$settings/test_$code" --decode-dir "$cls"/*/*/"decode_$code"
  done
  stage_done exp/.done/35.cls_score
fi

# No marker: both are cheap. RESULTS.md includes both recipes' summaries (lda.sh's when it ran).
if stage_begin 36 "classification summary and RESULTS.md"; then
  "${runner[@]}" exp/results/log/cls_report.log \
    speechml cls report --exp "$cls" --out exp/cls_summary.md
  write_results "${runner[@]}"
  stage_done
fi
