#!/usr/bin/env bash
# @@{name} (@@{iso}) as a tail language: data, trivial baselines, language-dependent adapters on a
# frozen multilingual streaming transducer (for the tail languages @@{tail_langs}, one run, merged),
# semantic classification of speech (end to end vs cascades, with @@{iso} held out), wav2vec2
# continued pretraining and an audio LLM, on the synthesised corpus or your data.
#
# Usage: ./run.sh [options]   (from egs/@@{iso}/)
#   e.g. ./run.sh                              everything, stages 0-54
#        ./run.sh --stage 2 --stop-stage 3     your own data in data/{train,dev,test}
#        ./run.sh --corpus-dir corpus/quick --corpus-opts "--set utts_per_lang.train=20
#                 --set utts_per_lang.dev=5 --set utts_per_lang.test=5"   a quick profile
#        ./run.sh --stage 22 --adapter-opts "--set train.max_steps=20"   a quick adapter run
#        ./run.sh --tail-langs @@{iso} --labelled 300   one tail language only
#        ./run.sh --stage 30 --cls-langs eng,rus,@@{iso}   classification over three languages
#        ./run.sh --stage 33 --stop-stage 36 --neural-trains train_heldout \
#                 --text-config conf/cls_text_xfer.yaml   TransliCo + OFA for the held-out language
#        ./run.sh --stage 40 --init-model /path/to/xls-r   continued pretraining of XLS-R
#        ./run.sh --stage 50 --llm-model /path/to/qwen2   the audio LLM on a real LLM
# Stages 0-4 are recipes/data.sh, 10-12 recipes/baseline.sh, 21-27 recipes/lda.sh, 30-36
# recipes/cls.sh, 40-45 recipes/cpt.sh, 50-54 recipes/llm.sh; README.md says what each does.
#
# Options:
#   --stage N              first stage to run (default 0)
#   --stop-stage N         last stage to run (default 100)
#   --nj N                 parallel jobs inside a stage (default: data.sh's and llm.sh's)
#   --lang ISO             the tail language of this recipe, ISO 639-3 (default @@{iso}); the
#                          data and baseline stages use every language of conf/corpus.yaml;
#                          classification holds it out; wav2vec2 and the audio LLM target it
#   --tail-langs "T1 .."   the tail languages of the adapter stages, one adapter each, trained
#                          in one run (default "@@{tail_langs}"; one language is possible)
#   --labelled "N1 .."     labelled utterances of each tail language the base trains on, in
#                          --tail-langs' order (default "@@{labelled}"; one number: each)
#   --iterations N         noisy-student iterations
#   --min-confidence X     keep pseudo-labels with at least this confidence
#   --confidence NAME      the pseudo-labels' confidence: length (the search's, times the
#                          hypothesis's length against the expected) or symbols
#   --teacher-search NAME  the teacher's search: beam, greedy or ctc
#   --teacher-lm DIR       n-gram LMs fused in the teacher's beam search (none: no LM)
#                          (the five options above: default lda.sh's)
#   --train-opts "OPTS"    more options of the recognisers trained from scratch or from an
#                          encoder (the base, the romanized one), e.g. "--set train.max_steps=20"
#   --adapter-opts "OPTS"  more options of the adapters' and the full fine-tunings' training
#                          (no model section: the base's is kept), e.g. "--set train.max_steps=20"
#   --cls-langs "L1,..."   languages the classification compares (default: every language)
#   --e2e-opts "OPTS"      more options of the end-to-end classifiers' training (default none)
#   --text-config FILE     config of the neural text classifiers (default cls.sh's;
#                          conf/cls_text_xfer.yaml pretrains and adapts their encoder)
#   --neural-trains "T1.." train dirs of data/cls that get a neural text classifier (default
#                          cls.sh's; e.g. "train_all train_heldout")
#   --text-opts "OPTS"     more options of the neural text classifiers' training (default none)
#   --related-lang ISO     language whose labelled data the wav2vec2 fine-tuning mixes in
#                          (default rus)
#   --init-model DIR       a pretrained wav2vec2 (XLS-R, MMS) to continue instead of the
#                          stand-in that stage 40 pretrains (default none)
#   --ssl-opts "OPTS"      more options of the wav2vec2 training jobs (default none)
#   --llm-model DIR        a causal LM (and tokenizer) for the audio LLM instead of the tiny
#                          one that stage 51 trains (default none)
#   --llm-opts "OPTS"      more options of the audio-LLM training and evaluation (default none)
#   --lm-opts "OPTS"       more options of the tiny LLM's pretraining (default none)
#   --mix-opts "OPTS"      more options of the audio LLM's instruction mixtures (default none)
#   --corpus-config FILE   corpus configuration (default data.sh's)
#   --corpus-dir DIR       where the corpus is built (default data.sh's)
#   --corpus-opts "OPTS"   more options of `speechml corpus build` (default none)
#   --train-cmd "RUNNER"   job runner of the data and training jobs (default from cmd.sh)
#   --decode-cmd "RUNNER"  job runner of the decoding and scoring jobs (default from cmd.sh)

# Options that run.sh only passes on are empty here: the recipe that uses one declares its default.

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

stage=0
stop_stage=100
nj=
lang=@@{iso}
tail_langs="@@{tail_langs}"
labelled="@@{labelled}"
iterations=
min_confidence=
confidence=
teacher_search=
teacher_lm=
train_opts=
adapter_opts=
cls_langs=
e2e_opts=
text_config=
neural_trains=
text_opts=
related_lang=rus
init_model=
ssl_opts=
llm_model=
llm_opts=
lm_opts=
mix_opts=
corpus_config=
corpus_dir=
corpus_opts=
. ./cmd.sh
. ./path.sh
# shellcheck source=../../recipes/utils/parse_options.sh
. parse_options.sh
# shellcheck source=../../recipes/utils/given_options.sh
. given_options.sh
data_options=() lda_options=() cls_options=() llm_options=()
given_options data_options --nj "$nj" --corpus-config "$corpus_config" --corpus-dir "$corpus_dir"
given_options lda_options --iterations "$iterations" --min-confidence "$min_confidence" \
  --confidence "$confidence" --teacher-search "$teacher_search" --teacher-lm "$teacher_lm"
given_options cls_options --text-config "$text_config" --neural-trains "$neural_trains"
given_options llm_options --nj "$nj"

data.sh --stage "$stage" --stop-stage "$stop_stage" --cmd "$train_cmd" "${data_options[@]}" \
  --corpus-opts "$corpus_opts" --tail-langs "$tail_langs" --labelled "$labelled"
baseline.sh --stage "$stage" --stop-stage "$stop_stage" --cmd "$decode_cmd"
lda.sh --stage "$stage" --stop-stage "$stop_stage" --tail-langs "$tail_langs" \
  "${lda_options[@]}" --train-opts "$train_opts" --adapter-opts "$adapter_opts" \
  --cmd "$train_cmd" --decode-cmd "$decode_cmd"
cls.sh --stage "$stage" --stop-stage "$stop_stage" --lang "$lang" --langs "$cls_langs" \
  --train-opts "$train_opts" --e2e-opts "$e2e_opts" "${cls_options[@]}" \
  --text-opts "$text_opts" --cmd "$train_cmd" --decode-cmd "$decode_cmd"
cpt.sh --stage "$stage" --stop-stage "$stop_stage" --lang "$lang" --related-lang "$related_lang" \
  --init-model "$init_model" --ssl-opts "$ssl_opts" --cmd "$train_cmd" --decode-cmd "$decode_cmd"
llm.sh --stage "$stage" --stop-stage "$stop_stage" "${llm_options[@]}" --lang "$lang" \
  --llm-model "$llm_model" --llm-opts "$llm_opts" --lm-opts "$lm_opts" --mix-opts "$mix_opts" \
  --cmd "$train_cmd" --decode-cmd "$decode_cmd"
