#!/usr/bin/env bash
# Georgian (kat): the data stages and the trivial baselines, on the synthesised corpus or your data.
#
# Usage: ./run.sh [options]   (from egs/kat/)
#   e.g. ./run.sh                              everything, stages 0-12
#        ./run.sh --stage 2 --stop-stage 3     your own data in data/{train,dev,test}
#        ./run.sh --corpus-dir corpus/quick --corpus-opts "--set utts_per_lang.train=20
#                 --set utts_per_lang.dev=5 --set utts_per_lang.test=5"   a quick profile
# Stages 0-3 are recipes/data.sh, stages 10-12 recipes/baseline.sh; README.md says what each does.
#
# Options:
#   --stage N              first stage to run (default 0)
#   --stop-stage N         last stage to run (default 100)
#   --nj N                 parallel jobs inside a stage (default 2)
#   --lang ISO             the tail language of this recipe, ISO 639-3 (default kat); the
#                          data and baseline stages use every language of conf/corpus.yaml
#   --corpus-config FILE   corpus configuration (default conf/corpus.yaml)
#   --corpus-dir DIR       where the corpus is built (default corpus/default)
#   --corpus-opts "OPTS"   more options of `speechml corpus build` (default none)
#   --train-cmd "RUNNER"   job runner of the data and training jobs (default from cmd.sh)
#   --decode-cmd "RUNNER"  job runner of the decoding and scoring jobs (default from cmd.sh)

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
nj=2
# shellcheck disable=SC2034  # the tail language, for the recipes that adapt to one language
lang=kat
corpus_config=conf/corpus.yaml
corpus_dir=corpus/default
corpus_opts=
. ./cmd.sh
. ./path.sh
# shellcheck source=../../recipes/utils/parse_options.sh
. parse_options.sh

data.sh --stage "$stage" --stop-stage "$stop_stage" --nj "$nj" --cmd "$train_cmd" \
  --corpus-config "$corpus_config" --corpus-dir "$corpus_dir" --corpus-opts "$corpus_opts"
baseline.sh --stage "$stage" --stop-stage "$stop_stage" --cmd "$decode_cmd"
