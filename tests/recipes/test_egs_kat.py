"""egs/kat: the committed dir is a fresh render, its config loads, run.sh runs end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from speechml.asr.train import AdapterTrainConfig, AsrTrainConfig, FinetuneConfig
from speechml.cls.ngram import NgramConfig
from speechml.cls.text_model import TextClassifierConfig
from speechml.cls.train_e2e import E2eConfig
from speechml.config import load_config
from speechml.data.corpus.config import CorpusConfig, check_config
from speechml.llm.mixture import MixtureConfig
from speechml.llm.train import AudioLlmConfig, LmPretrainConfig
from speechml.recipe import language_spec, render_template
from speechml.ssl.finetune import CtcConfig
from speechml.ssl.pretrain import PretrainConfig

REPO = Path(__file__).resolve().parents[2]
EGS = REPO / "egs" / "kat"
#: What a run writes into the egs dir (git-ignored or generated), not part of the template.
RUN_OUTPUTS = {"corpus", "data", "exp", "RESULTS.md"}


def test_egs_kat_is_a_fresh_render_of_the_template() -> None:
    rendered = render_template(language_spec("kat"))
    committed = {
        path.relative_to(EGS)
        for path in EGS.rglob("*")
        if path.is_file() and path.relative_to(EGS).parts[0] not in RUN_OUTPUTS
    }
    assert committed == set(rendered), "re-render: speechml recipe new-lang kat --force"
    for path, text in rendered.items():
        assert (EGS / path).read_text(encoding="utf-8") == text, f"egs/kat/{path} drifted"
        assert os.access(EGS / path, os.X_OK) == text.startswith("#!"), f"mode of {path}"


def test_egs_kat_corpus_config_loads() -> None:
    config = EGS / "conf" / "corpus.yaml"
    corpus = load_config(CorpusConfig, config)
    check_config(corpus, config)
    assert "kat" in [lang.code for lang in corpus.languages]


#: the config class of each file of egs/kat/conf: a new file must be added here to be loaded
CONFIG_CLASSES = {
    "adapter.yaml": AdapterTrainConfig,
    "asr_base.yaml": AsrTrainConfig,
    "asr_rom.yaml": AsrTrainConfig,
    "cls_e2e.yaml": E2eConfig,
    "cls_ngram.yaml": NgramConfig,
    "cls_text.yaml": TextClassifierConfig,
    "cls_text_xfer.yaml": TextClassifierConfig,
    "corpus.yaml": CorpusConfig,
    "finetune.yaml": FinetuneConfig,
    "llm.yaml": AudioLlmConfig,
    "llm_lm.yaml": LmPretrainConfig,
    "llm_mix.yaml": MixtureConfig,
    "llm_mix_dev.yaml": MixtureConfig,
    "llm_mix_test.yaml": MixtureConfig,
    "w2v_cpt.yaml": PretrainConfig,
    "w2v_ctc.yaml": CtcConfig,
    "w2v_pretrain.yaml": PretrainConfig,
}
#: the dev metric (and direction) that picks each training's model: adapters (and their
#: comparison) by WER; the recognisers trained from scratch or with new heads by CER, which tells
#: apart the early checkpoints that all have 100% WER; classifiers by accuracy
BEST_METRICS = {
    "adapter.yaml": ("dev_wer", "min"),
    "asr_base.yaml": ("dev_cer_full", "min"),
    "asr_rom.yaml": ("dev_cer", "min"),
    "cls_e2e.yaml": ("dev_accuracy", "max"),
    "cls_text.yaml": ("dev_accuracy", "max"),
    "cls_text_xfer.yaml": ("dev_accuracy", "max"),
    "finetune.yaml": ("dev_wer", "min"),
    "w2v_ctc.yaml": ("dev_cer", "min"),
}


def test_every_egs_kat_config_has_a_known_class() -> None:
    assert sorted(path.name for path in EGS.glob("conf/*.yaml")) == sorted(CONFIG_CLASSES)


@pytest.mark.parametrize("name", sorted(set(CONFIG_CLASSES) - {"corpus.yaml"}))
def test_egs_kat_training_configs_load(name: str) -> None:
    loaded = load_config(CONFIG_CLASSES[name], EGS / "conf" / name)
    if name in BEST_METRICS:
        assert (loaded.train.best_metric, loaded.train.best_mode) == BEST_METRICS[name]


def run_sh(egs: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run ``egs/run.sh OPTIONS`` with this repository's recipes and environment."""
    env = {**os.environ, "SPEECHML_ROOT": str(REPO)}
    return subprocess.run(
        ["./run.sh", *options], cwd=egs, env=env, capture_output=True, text=True, timeout=1500
    )


#: A budget small enough for a test: the recipe's plumbing, not its accuracy (the adapters and
#: full fine-tunings, whose model is the base's).
TINY_FIT = " ".join(
    f"--set {x}" for x in ("train.max_steps=3", "train.valid_every=3", "train.warmup_steps=1")
)
#: The same for the recognisers trained from scratch, with a tiny model.
TINY_TRAINING = " ".join(
    [TINY_FIT]
    + [
        f"--set model.{x}"
        for x in (
            "encoder.d_model=32",
            "encoder.num_heads=2",
            "encoder.ffn_dim=64",
            "encoder.num_layers=1",
            "encoder.subsampling_channels=8",
            "predictor.embed_dim=16",
            "predictor.output_dim=16",
            "joiner_dim=16",
        )
    ]
)
#: The end-to-end classifiers' budget (their encoder is the tiny base's).
TINY_E2E = " ".join(
    f"--set {x}"
    for x in ("train.max_steps=2", "train.valid_every=2", "train.warmup_steps=1", "valid_utts=4")
)
#: The neural text classifier's budget (ca_nn, trained on the multilingual setting only).
TINY_TEXT = " ".join(
    f"--set {x}"
    for x in (
        "train.max_steps=2",
        "train.valid_every=2",
        "train.warmup_steps=1",
        "model.vocab_size=64",
    )
)
#: The wav2vec2 runs' budget (pretraining and CTC fine-tuning; the models of conf/w2v_*.yaml).
TINY_SSL = " ".join(
    f"--set {x}"
    for x in ("train.max_steps=2", "train.valid_every=2", "train.warmup_steps=1", "valid_utts=4")
)
#: The audio LLM's budget and sizes (its encoder is the tiny base's), and the tiny LLM's.
TINY_LLM = " ".join(
    f"--set {x}"
    for x in ("align.max_steps=2", "align.valid_every=2", "align.warmup_steps=1",
              "instruct.max_steps=2", "instruct.valid_every=2", "instruct.warmup_steps=1",
              "valid_examples=4", "projector.hidden_size=16", "projector.num_heads=2")
)  # fmt: skip
TINY_LM = " ".join(
    f"--set {x}"
    for x in ("train.max_steps=2", "train.valid_every=2", "train.warmup_steps=1",
              "valid_texts=4", "model.hidden_size=32", "model.vocab_size=300")
)  # fmt: skip
#: The methods of the classification comparison (exp/cls/<method>) and its settings.
CLS_METHODS = ("ca", "ca_rom", "e2e")
CLS_SETTINGS = ("mono", "zero-shot", "multi", "held-out")


@pytest.mark.slow
@pytest.mark.espeak
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_run_sh_quick_profile_end_to_end(tmp_path: Path) -> None:
    egs = tmp_path / "kat"
    shutil.copytree(EGS, egs, ignore=shutil.ignore_patterns(*RUN_OUTPUTS))
    corpus = yaml.safe_load((egs / "conf/corpus.yaml").read_text())
    corpus["languages"] = [x for x in corpus["languages"] if x["code"] in ("eng", "kat", "ell")]
    (egs / "conf/quick.yaml").write_text(yaml.safe_dump(corpus))
    quick = [
        "--corpus-config", "conf/quick.yaml", "--corpus-dir", "corpus/quick", "--corpus-opts",
        "--set utts_per_lang.train=12 --set utts_per_lang.dev=4 --set utts_per_lang.test=4",
        "--tail-langs", "kat ell", "--labelled", "4 6", "--min-confidence", "0",
        "--train-opts", TINY_TRAINING, "--adapter-opts", TINY_FIT, "--cls-langs", "eng,kat",
        "--e2e-opts", TINY_E2E, "--text-opts", TINY_TEXT,
        "--related-lang", "eng", "--ssl-opts", TINY_SSL, "--llm-opts", TINY_LLM,
        "--lm-opts", TINY_LM, "--mix-opts", "--set examples=200",
    ]  # fmt: skip
    result = run_sh(egs, *quick)
    assert result.returncode == 0, result.stderr[-4000:]
    stages = (0, 1, 2, 3, 4, 10, 11, 12, *range(21, 28), *range(30, 37), *range(40, 46))
    stages += tuple(range(50, 55))
    for stage in stages:
        assert f"] Stage {stage} (" in result.stderr
    for split in ("train", "dev", "test"):
        for name in ("wav.scp", "text", "utt2spk", "utt2lang", "utt2label", "utt2dur"):
            assert (egs / "data" / split / name).is_file(), f"data/{split}/{name}"
        langs = {line.split()[1] for line in (egs / "data" / split / "utt2lang").open()}
        assert langs == {"eng", "kat", "ell"}
        validation = (egs / f"exp/data_prep/log/validate_{split}.log").read_text()
        assert "# Ended (code 0)" in validation
    assert (egs / "data/.done/2.validate").is_file()
    assert (egs / "data/train/cmvn.json").is_file()
    assert any((egs / "data/lang_char").iterdir())
    for split in ("dev", "test"):
        wer = (egs / f"exp/baseline_most_frequent/decode_{split}/wer").read_text()
        assert wer.startswith("%WER ")
        assert (egs / f"exp/baseline_majority_class/decode_{split}/report.txt").is_file()
    results = (egs / "RESULTS.md").read_text()
    assert "baseline_most_frequent" in results
    assert "baseline_majority_class" in results

    assert (egs / "exp/base/model/model.safetensors").is_file()
    for lang, untranscribed in (("kat", 8), ("ell", 6)):
        assert (egs / f"exp/lda/adapters/{lang}/adapter_config.json").is_file()
        assert (egs / f"exp/lda_iter1/adapters/{lang}/adapter_config.json").is_file()
        assert (egs / f"exp/lda_merged/model/adapters/{lang}/adapter_model.safetensors").is_file()
        assert (egs / f"exp/finetune_{lang}/model/model.safetensors").is_file()
        utts = (egs / f"data/{lang}_untranscribed/utt2spk").read_text().splitlines()
        assert len(utts) == untranscribed
        assert not (egs / f"data/{lang}_untranscribed/text").exists()
    assert (egs / "exp/lda/dev_wer_per_language.png").read_bytes().startswith(b"\x89PNG")
    assert "Pearson" in (egs / "exp/lda_iter1/confidence_report.txt").read_text()
    for system in ("base", "lda_merged", "finetune_kat", "finetune_ell"):
        for decode in ("decode_test", "decode_test_full"):
            assert (egs / f"exp/{system}/{decode}/wer").read_text().startswith("%WER ")
    assert (egs / "exp/lda_iter1/decode_test_tail/wer").read_text().startswith("%WER ")
    for decode in ("decode_test_full_beam", "decode_test_full_beam_lm"):
        assert (egs / f"exp/base/{decode}/wer").read_text().startswith("%WER ")
    assert "LM data/lm_char" in (egs / "exp/base/decode_test_full_beam_lm/system.txt").read_text()
    for system in ("base", "lda_merged"):
        for lang in ("kat", "ell"):
            rtf = (egs / f"exp/{system}/decode_test_{lang}_streaming/rtf").read_text()
            assert rtf.startswith("RTF ")
    summary = (egs / "exp/lda_summary.md").read_text()
    assert "## Language-dependent adapters: kat, ell" in summary
    assert re.search(r"^\| \*\*mean\*\* \|", summary, re.M)
    assert "| kat | " in summary.split("Noisy student")[1]  # the iterations' table
    assert "identical to the base" in summary  # eng decodes as before through the merged model
    assert "Language-dependent adapters: kat, ell" in (egs / "RESULTS.md").read_text()
    check_classification_outputs(egs)
    check_continued_pretraining_outputs(egs)
    check_audio_llm_outputs(egs)

    again = run_sh(egs, *quick, "--stage", "1")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "Stage 11 (score the baselines): outputs are newer than the inputs" in again.stderr
    assert (
        "Stage 34 (end-to-end classifier trained on train_all): outputs are newer than the inputs"
        in again.stderr
    )
    assert "Classification settings" in (egs / "RESULTS.md").read_text()  # stage 36 ran last


def check_audio_llm_outputs(egs: Path) -> None:
    """What stages 50-54 leave: two mixtures, two adapters, their evaluations, the summary."""
    eng_only = (egs / "data/llm/train_eng/instructions.jsonl").read_text()
    assert '"lang": "kat"' not in eng_only and '"lang": "eng"' in eng_only
    assert '"lang": "kat"' in (egs / "data/llm/train_eng_kat/instructions.jsonl").read_text()
    for system in ("llm_eng", "llm_eng_kat"):
        assert (egs / f"exp/{system}_align/adapter/projector.safetensors").is_file()
        assert (egs / f"exp/{system}/adapter/adapter_model.safetensors").is_file()
        assert (egs / f"exp/{system}/eval_test/task_report.json").is_file()
    assert (egs / "data/llm/test/spoken/wav.scp").is_file()  # the spoken instructions' audio
    summary = (egs / "exp/llm_summary.md").read_text()
    header = "| task | language | prompt | metric | English only | follows % | English + kat |"
    assert header in summary
    assert re.search(r"^\| asr \| kat \| kat \| WER % \|", summary, re.M)
    assert re.search(r"^\| spoken lid \| kat \| kat \| accuracy % \|", summary, re.M)
    assert "Audio LLM: English-only vs English + kat" in (egs / "RESULTS.md").read_text()


def check_continued_pretraining_outputs(egs: Path) -> None:
    """What stages 40-45 leave: the stand-in, the continued model, three scored systems."""
    for model in ("w2v_multi", "w2v_cpt_kat"):
        assert (egs / f"exp/{model}/model/preprocessor_config.json").is_file(), model
    langs = {line.split()[1] for line in (egs / "data/ssl_multi/utt2lang").open()}
    assert langs == {"eng", "ell"}  # the stand-in never hears the target language
    for system in ("w2v_ft_kat", "w2v_cpt_ft_kat", "w2v_cpt_rel_ft_kat"):
        assert (egs / f"exp/{system}/decode_test_kat/wer").read_text().startswith("%WER ")
    summary = (egs / "exp/cpt_summary.md").read_text()
    for label in ("fine-tuning only", "CPT + fine-tuning", "CPT + fine-tuning + eng data"):
        assert re.search(rf"^\| {re.escape(label)} \| \d+\.\d\d \|", summary, re.M), label
    assert "| stand-in for XLS-R | 2 |" in summary and "| continued on kat | 2 |" in summary
    results = (egs / "RESULTS.md").read_text()
    for section in ("wav2vec2 continued pretraining", "Language-dependent adapter", "Classif"):
        assert section in results, section


def check_classification_outputs(egs: Path) -> None:
    """What stages 30-36 leave on the tiny eng + kat corpus, kat held out."""
    trainings = (egs / "data/cls/trainings.txt").read_text().splitlines()
    assert trainings == [
        "train_eng dev_eng eng kat",
        "train_kat dev_kat eng kat",
        "train_all dev_all eng kat",
        "train_heldout dev_heldout kat",
    ]
    romanized = (egs / "data/train_base_rom/text").read_text()
    assert "kat" in (egs / "data/train_base_rom/utt2lang").read_text()
    assert not re.search("[\u10a0-\u10ff]", romanized), "Georgian letters left by uroman"
    assert (egs / "exp/asr_rom/model/model.safetensors").is_file()
    for recogniser in ("asr", "asr_rom"):
        for code in ("eng", "kat"):
            assert (egs / f"exp/cls/{recogniser}/decode_{code}/hyp.trn").is_file()
    for line in trainings:
        train, _, *test_langs = line.split()
        for method in CLS_METHODS:
            for code in test_langs:
                decode_dir = egs / f"exp/cls/{method}/{train}/decode_{code}"
                report = json.loads((decode_dir / "report.json").read_text())
                assert 0 <= report["accuracy"] <= 1, decode_dir
    summary = (egs / "exp/cls_summary.md").read_text()
    accuracy = summary.split("### Accuracy %")[1].split("###")[0]
    assert "| method | setting | eng | kat | mean |" in accuracy
    number = r"\d+\.\d\d"
    for method in CLS_METHODS:
        for setting in CLS_SETTINGS:
            eng = "-" if setting == "held-out" else number  # only kat is held out
            row = rf"^\| {method} \| {setting} \| {eng} \| {number} \| {number} \|$"
            assert re.search(row, accuracy, re.MULTILINE), f"{method} {setting}"
        heat_map = egs / f"exp/{method}_zero_shot.png"
        assert heat_map.read_bytes().startswith(b"\x89PNG"), heat_map
    # the neural cascade: the multilingual setting only, on the native recogniser's text
    assert re.search(rf"^\| ca_nn \| multi \| {number} \| {number} \| {number} \|$", accuracy, re.M)
    assert "| ca_nn | mono |" not in accuracy and not (egs / "exp/ca_nn_zero_shot.png").exists()
    assert "## Classification settings" in (egs / "RESULTS.md").read_text()
