#!/usr/bin/env bash
# Data stages 0-4: corpus, Kaldi data dirs data/{train,dev,test}, validation, tokenizer and CMVN,
# and the data plan of the tail languages.
#
# Usage: data.sh [options]   (run from an egs dir, after path.sh; egs/<lang>/run.sh calls it)
#   Stage 0  build the synthesised corpus: speechml corpus build (conf/corpus.yaml -> corpus/);
#            it reuses a finished corpus built with the same config and refuses another one
#   Stage 1  combine the corpus's per-language dirs into data/train, data/dev, data/test; it
#            re-runs when the corpus dir, config or options change, and refuses to write over
#            a data dir it did not write (own data: put Kaldi data dirs there yourself and
#            start at stage 2)
#   Stage 2  validate data/{train,dev,test} with their audio; write utt2dur where it is missing
#   Stage 3  character tokenizer data/lang_char, fbank features stored once in
#            data/{train,dev,test}/fbank/ (every later stage reads them), and feature
#            statistics data/train/cmvn.json
#   Stage 4  data plan of the tail languages (--tail-langs): data/train_base (the head languages
#            + each tail language's --labelled utterances), data/T_labelled and
#            data/T_untranscribed (the rest of T, no text) for each tail language T, data/dev_T
#            and data/test_T; their unions over the tail languages data/tail_labelled,
#            data/tail_untranscribed, data/dev_tail, data/test_tail (every capability recipe
#            reads these)
# Only the stages in [--stage, --stop-stage] run; a stage whose .done marker is newer than its
# inputs (and, for stage 1, names the same corpus) reuses its outputs. Logs are in
# exp/data_prep/log/.
#
# Options:
#   --stage N              first stage to run
#   --stop-stage N         last stage to run
#   --nj N                 parallel jobs inside a stage
#   --cmd "RUNNER"         job runner from cmd.sh (run_local.sh or run_slurm.sh [options])
#   --corpus-config FILE   corpus configuration
#   --corpus-dir DIR       where the corpus is built
#   --corpus-opts "OPTS"   more options of `speechml corpus build`, e.g.
#                          "--set utts_per_lang.train=20" for a quick profile
#   --tail-langs "T1 T2.." the tail languages (ISO 639-3) of stage 4, e.g. "kat ell ara"
#   --labelled "N1 N2.."   labelled utterances of each tail language in the base's training
#                          data, in --tail-langs' order (one number: the same for each)

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
nj=2
cmd=run_local.sh
corpus_config=conf/corpus.yaml
corpus_dir=corpus/default
corpus_opts=
tail_langs=
labelled=300
# shellcheck source=utils/parse_options.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"
# shellcheck source=utils/stage.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/stage.sh"

read -r -d "" -a runner <<<"$cmd" || true
read -r -d "" -a corpus_args <<<"$corpus_opts" || true
splits=(train dev test)
read -r -a tails <<<"$tail_langs"
read -r -a counts <<<"$labelled"
tail_csv=$(IFS=,; echo "${tails[*]}")
labelled_csv=$(IFS=,; echo "${counts[*]}")
logs=exp/data_prep/log

if stage_begin 0 "build the corpus"; then
  "${runner[@]}" "$logs/corpus_build.log" \
    speechml corpus build --config "$corpus_config" --out "$corpus_dir" --nj "$nj" \
    "${corpus_args[@]}"
  stage_done
fi

# Stage 1's signature: the corpus it combines, as built by stage 0.
corpus_path=$corpus_dir
[[ $corpus_path == /* ]] || corpus_path=$PWD/$corpus_path
config_hash=missing
if [[ -f $corpus_config ]]; then
  config_hash=$(sha256sum <"$corpus_config")
  config_hash=${config_hash%% *}
fi
corpus_signature="corpus=$corpus_path config-sha256=$config_hash opts=$corpus_opts"

if stage_begin 1 "prepare data dirs" --signature "$corpus_signature" \
  data/.done/1.combine "$corpus_dir/.done"; then
  # data/.done/1.owner.<split>, written before stage 1 first writes data/<split>: its own dirs,
  # which it may write over (also after it failed half-way); any other dir is the user's.
  for x in "${splits[@]}"; do
    if [[ -e data/$x && ! -f data/.done/1.owner.$x ]]; then
      log "error: data/$x exists and stage 1 did not write it: to use your own data, start" \
        "at stage 2 (--stage 2); to build it from the corpus, remove data/$x"
      exit 1
    fi
  done
  mkdir -p data/.done
  for x in "${splits[@]}"; do
    date '+%Y-%m-%d %H:%M:%S' >"data/.done/1.owner.$x"
    "${runner[@]}" "$logs/combine_$x.log" speechml data combine "data/$x" "$corpus_dir"/data/*/"$x"
  done
  stage_done data/.done/1.combine
fi

# Stage 2's inputs: the tables of each data dir (a missing optional one is in the signature).
validate_inputs=()
for x in "${splits[@]}"; do
  validate_inputs+=("data/$x/wav.scp" "data/$x/text" "data/$x/utt2spk")
  for name in utt2lang utt2label segments; do
    [[ ! -f data/$x/$name ]] || validate_inputs+=("data/$x/$name")
  done
done

if stage_begin 2 "validate data" --signature "${validate_inputs[*]}" data/.done/2.validate \
  "${validate_inputs[@]}"; then
  for x in "${splits[@]}"; do
    "${runner[@]}" "$logs/validate_$x.log" speechml data validate "data/$x" --check-audio
    if [[ ! -f data/$x/utt2dur ]]; then
      "${runner[@]}" "$logs/durations_$x.log" speechml data durations "data/$x" --nj "$nj"
    fi
  done
  stage_done data/.done/2.validate
fi

features_inputs=(data/train/text)
for x in "${splits[@]}"; do
  features_inputs+=("data/$x/wav.scp")
  [[ ! -f data/$x/segments ]] || features_inputs+=("data/$x/segments")
done

if stage_begin 3 "tokenizer, features and feature statistics" data/.done/3.tokenizer_fbank_cmvn \
  "${features_inputs[@]}"; then
  "${runner[@]}" "$logs/train_tokenizer.log" \
    speechml data train-tokenizer --kind char --out data/lang_char data/train
  for x in "${splits[@]}"; do
    "${runner[@]}" "$logs/compute_fbank_$x.log" speechml data compute-fbank "data/$x" --nj "$nj"
  done
  "${runner[@]}" "$logs/compute_cmvn.log" \
    speechml data compute-cmvn data/train --out data/train/cmvn.json
  stage_done data/.done/3.tokenizer_fbank_cmvn
fi

if stage_begin 4 "data plan of the tail languages" \
  --signature "tail_langs=$tail_csv labelled=$labelled_csv" \
  data/.done/4.tail data/.done/3.tokenizer_fbank_cmvn data/train data/dev data/test; then
  require_option tail_langs "ISO 639-3 codes of the tail languages"
  "${runner[@]}" "$logs/tail_split.log" \
    speechml asr tail-split --data data/train --lang "$tail_csv" --labelled "$labelled_csv" \
    --out-dir data
  for x in dev test; do
    for t in "${tails[@]}"; do
      "${runner[@]}" "$logs/subset_${x}_$t.log" \
        speechml data subset "data/$x" "data/${x}_$t" --lang "$t"
    done
  done
  for x in dev test; do
    "${runner[@]}" "$logs/combine_${x}_tail.log" \
      speechml data combine "data/${x}_tail" "${tails[@]/#/data/${x}_}"
  done
  for x in labelled untranscribed; do
    parts=()
    for t in "${tails[@]}"; do parts+=("data/${t}_$x"); done
    "${runner[@]}" "$logs/combine_tail_$x.log" \
      speechml data combine "data/tail_$x" "${parts[@]}"
  done
  stage_done data/.done/4.tail
fi
