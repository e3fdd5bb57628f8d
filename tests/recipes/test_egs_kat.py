"""egs/kat: the committed dir is a fresh render, its config loads, run.sh runs end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from speechml.asr.train import AsrTrainConfig
from speechml.config import load_config
from speechml.data.corpus.config import CorpusConfig, check_config
from speechml.recipe import language_spec, render_template

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


@pytest.mark.parametrize(
    "config",
    sorted(p for p in EGS.glob("conf/*.yaml") if p.name != "corpus.yaml"),
    ids=lambda p: p.name,
)
def test_egs_kat_training_configs_load(config: Path) -> None:
    loaded = load_config(AsrTrainConfig, config)
    # adapters (and their comparison) are picked by dev WER; the base by dev CER, which tells
    # apart the early checkpoints that all have 100% WER
    expected = "dev_cer" if config.name == "asr_base.yaml" else "dev_wer"
    assert loaded.train.best_metric == expected


def run_sh(egs: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run ``egs/run.sh OPTIONS`` with this repository's recipes and environment."""
    env = {**os.environ, "SPEECHML_ROOT": str(REPO)}
    return subprocess.run(
        ["./run.sh", *options], cwd=egs, env=env, capture_output=True, text=True, timeout=900
    )


#: A model and budget small enough for a test: the recipe's plumbing, not its accuracy.
TINY_TRAINING = " ".join(
    f"--set {x}"
    for x in (
        "train.max_steps=3",
        "train.valid_every=3",
        "train.warmup_steps=1",
        "model.encoder.d_model=32",
        "model.encoder.num_heads=2",
        "model.encoder.ffn_dim=64",
        "model.encoder.num_layers=1",
        "model.encoder.subsampling_channels=8",
        "model.predictor.embed_dim=16",
        "model.predictor.output_dim=16",
        "model.joiner_dim=16",
    )
)


@pytest.mark.slow
@pytest.mark.espeak
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_run_sh_quick_profile_end_to_end(tmp_path: Path) -> None:
    egs = tmp_path / "kat"
    shutil.copytree(EGS, egs, ignore=shutil.ignore_patterns(*RUN_OUTPUTS))
    corpus = yaml.safe_load((egs / "conf/corpus.yaml").read_text())
    corpus["languages"] = [x for x in corpus["languages"] if x["code"] in ("eng", "kat")]
    (egs / "conf/quick.yaml").write_text(yaml.safe_dump(corpus))
    quick = [
        "--corpus-config", "conf/quick.yaml", "--corpus-dir", "corpus/quick", "--corpus-opts",
        "--set utts_per_lang.train=12 --set utts_per_lang.dev=4 --set utts_per_lang.test=4",
        "--labelled", "4", "--min-confidence", "0", "--train-opts", TINY_TRAINING,
    ]  # fmt: skip
    result = run_sh(egs, *quick)
    assert result.returncode == 0, result.stderr[-4000:]
    for stage in (0, 1, 2, 3, 10, 11, 12, 20, 21, 22, 23, 24, 25, 26, 27):
        assert f"] Stage {stage} (" in result.stderr
    for split in ("train", "dev", "test"):
        for name in ("wav.scp", "text", "utt2spk", "utt2lang", "utt2label", "utt2dur"):
            assert (egs / "data" / split / name).is_file(), f"data/{split}/{name}"
        langs = {line.split()[1] for line in (egs / "data" / split / "utt2lang").open()}
        assert langs == {"eng", "kat"}
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
    assert (egs / "exp/lda_kat/adapter/adapter_config.json").is_file()
    assert (egs / "exp/lda_merged/model/adapters/kat/adapter_model.safetensors").is_file()
    assert (egs / "exp/finetune_kat/model/model.safetensors").is_file()
    assert len((egs / "data/kat_untranscribed/utt2spk").read_text().splitlines()) == 8
    assert not (egs / "data/kat_untranscribed/text").exists()
    for system in ("base", "lda_merged", "finetune_kat"):
        assert (egs / f"exp/{system}/decode_test/wer").read_text().startswith("%WER ")
    for system in ("base", "lda_merged"):
        assert (egs / f"exp/{system}/decode_test_streaming/rtf").read_text().startswith("RTF ")
    summary = (egs / "exp/lda_summary.md").read_text()
    assert "## Language-dependent adapter: kat" in summary
    assert "identical to the base" in summary  # eng decodes as before through the merged model
    assert "Language-dependent adapter: kat" in (egs / "RESULTS.md").read_text()

    again = run_sh(egs, *quick, "--stage", "1")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "Stage 11 (score the baselines): outputs are newer than the inputs" in again.stderr
