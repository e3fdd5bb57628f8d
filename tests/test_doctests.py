"""Every module's docstring examples run, as doctests (``ELLIPSIS | NORMALIZE_WHITESPACE``).

Each module's examples run in a fresh working directory that holds a tiny world, so that an
example reads like a user's session in a recipe directory:

- ``data/train`` (8 utterances), ``data/dev`` and ``data/test`` (4 each): data dirs of 0.5 s
  sines, two speakers, ``eng`` and ``kat``, with ``utt2dur`` and ``utt2label``
  (see ``write_data_dir`` in ``tests/conftest.py``);
- ``data/lang_char``: a character tokenizer of ``data/train``'s text;
- ``exp/base/model``: a recogniser dir of the tiny transducer of the ASR tests (untrained);
- ``conf/``: ``asr.yaml``, that model's training config, and two-step runs of every other
  training (``finetune``, ``adapter``, ``e2e``, ``cls_text``, ``w2v_pretrain`` of a tiny
  wav2vec2, ``w2v_ctc``, ``llm_lm`` of a tiny LLM, ``llm`` of the audio LLM) and ``llm_mix``,
  a 20-example instruction mixture of text tasks, so that an example that trains takes seconds;
- ``exp/llm_lm/model``: a tiny LLM and its chat tokenizer (two steps of ``pretrain_lm``);
- ``data/llm_train``, ``data/llm_test``: instruction mixtures (``conf/llm_mix.yaml``) of
  ``data/train`` and ``data/test``;
- ``clip.wav``: one second of a 440 Hz sine at 16 kHz.

The world is built once a session and copied for each module, so an example may write files.
"""

from __future__ import annotations
import __future__

import doctest
import importlib
import io
import pkgutil
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import speechml
from speechml.asr.recognizer import Recognizer
from speechml.asr.transducer import Transducer, TransducerConfig
from speechml.config import from_dict, load_config
from speechml.data.audio import write_audio
from speechml.data.datadir import DataDir
from speechml.data.features import FbankConfig
from speechml.data.tokenizer import train_tokenizer
from speechml.llm.mixture import MixtureConfig, build_mixture, write_examples
from speechml.llm.train import LmPretrainConfig, pretrain_lm

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

#: Modules whose examples need a program that may be missing: module -> program.
NEEDS_PROGRAM = {"speechml.data.corpus.synth": "espeak-ng", "speechml.llm.spoken": "espeak-ng"}


def _modules_with_examples() -> list[str]:
    """The modules of ``speechml/`` whose source has a ``>>>`` line (found without importing)."""
    names = []
    for info in pkgutil.walk_packages(speechml.__path__, "speechml."):
        spec = info.module_finder.find_spec(info.name, None)
        if spec and spec.origin and ">>> " in Path(spec.origin).read_text(encoding="utf-8"):
            names.append(info.name)
    return sorted(names)


def _write_configs(conf: Path, asr: dict) -> None:
    """The world's ``conf/`` (see the module docstring)."""
    conf.mkdir()
    two_steps = {"train": asr["train"], "valid_utts": 4}
    steps = {key: asr["train"][key] for key in ("max_steps", "valid_every", "warmup_steps")}
    by_accuracy = {**steps, "best_metric": "dev_accuracy", "best_mode": "max"}
    tiny_wav2vec2 = {
        "hidden_size": 32,
        "num_layers": 2,
        "num_heads": 2,
        "intermediate_size": 64,
        "conv_channels": 16,
        "num_codevectors_per_group": 32,
        "codevector_dim": 32,
    }
    configs = {
        "asr": asr,
        "finetune": two_steps,
        "adapter": two_steps,
        "e2e": {"train": {**asr["train"], **by_accuracy}, "valid_utts": 4},
        "cls_text": {"train": by_accuracy, "model": {"hidden_size": 32, "vocab_size": 64}},
        "w2v_pretrain": {
            "model": tiny_wav2vec2,
            "mask_time_length": 3,
            "num_negatives": 10,
            "train": steps,
            "valid_utts": 4,
        },
        "w2v_ctc": {"train": steps, "valid_utts": 4},
        "llm_lm": {"train": steps, "valid_texts": 4, "model": {"hidden_size": 32}},
        "llm": {
            "align": steps,
            "instruct": steps,
            "valid_examples": 4,
            "projector": {"hidden_size": 16, "num_heads": 2},
        },
        "llm_mix": {"examples": 20, "task_weights": {"asr": 1.0, "lid": 0.3, "qa": 0.3}},
    }
    for name, config in configs.items():
        (conf / f"{name}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


@pytest.fixture(scope="session")
def doctest_world(tmp_path_factory, data_dir_writer, tiny_asr_config) -> Path:
    """The tiny world of the module docstring, built once."""
    root = tmp_path_factory.mktemp("doctest_world")
    for name, num_utts in (("train", 8), ("dev", 4), ("test", 4)):
        data_dir_writer(
            root / "data",
            name,
            num_utts=num_utts,
            languages=("eng", "kat"),
            utt2dur=True,
            utt2label=True,
        )
    texts = DataDir.read(root / "data" / "train").text.values()
    tokenizer = train_tokenizer(texts, "char", None, root / "data" / "lang_char")
    model = tiny_asr_config()["model"] | {"vocab_size": tokenizer.vocab_size}
    transducer = Transducer(from_dict(TransducerConfig, model))
    Recognizer(transducer, tokenizer, FbankConfig(), None).save(root / "exp" / "base" / "model")
    _write_configs(root / "conf", tiny_asr_config(max_steps=2))
    lm_config = load_config(LmPretrainConfig, root / "conf" / "llm_lm.yaml")
    pretrain_lm(lm_config, list(texts), root / "exp" / "llm_lm")
    mix = load_config(MixtureConfig, root / "conf" / "llm_mix.yaml")
    for split in ("train", "test"):
        data = DataDir.read(root / "data" / split)
        write_examples(build_mixture(mix, [data]), root / "data" / f"llm_{split}")
    seconds = np.arange(16000) / 16000
    write_audio(root / "clip.wav", np.sin(2 * np.pi * 440 * seconds).astype(np.float32) / 2, 16000)
    return root


@pytest.mark.parametrize("name", _modules_with_examples())
def test_examples_run(name: str, doctest_world: Path, tmp_path: Path, monkeypatch) -> None:
    """Each example of module ``name`` runs and prints what its docstring shows."""
    program = NEEDS_PROGRAM.get(name)
    if program and shutil.which(program) is None:
        pytest.skip(f"the examples synthesise speech with {program}, which is not installed")
    shutil.copytree(doctest_world, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    # as a user's session would: without the module's ``from __future__`` imports (doctest
    # compiles examples with those it finds among the globals)
    globs = {k: v for k, v in vars(module).items() if not isinstance(v, __future__._Feature)}
    tests = [t for t in doctest.DocTestFinder().find(module, name, globs=globs) if t.examples]
    for test in tests:
        runner.run(test, out=report.write)
    assert tests, f"{name} has '>>> ' lines but no doctest examples"
    if runner.failures:
        pytest.fail(report.getvalue(), pytrace=False)
