"""Measure the text components: which pretraining objective and which vocabulary initialisation
help a classifier read a language in a script it never saw?

The texts are the corpus's transcripts (planned from its config, no audio needed) with their
class labels. The encoders are pretrained on the source languages (every language but
``--target``) with each objective (mlm, langsamp, translico); each row then adapts one encoder's
vocabulary to the target's unlabelled training text (or adds romanized pieces, TransMI, and
reads the target romanized), fine-tunes a classifier on the source languages' labels and tests
it on the target (zero-shot) and on the source languages. Columns:

- ``retr_src``: cross-script retrieval accuracy (a test sentence finds its own uroman
  transliteration by the mean-pooled middle layer), mean over the source languages not written
  in Latin, of the encoder before fine-tuning (chance: 1 / sentences).
- ``retr_tgt``: the same for the target language, after the vocabulary adaptation.
- ``zs_tgt``: the classifier's accuracy on the target's test texts (zero-shot).
- ``acc_src``: its mean accuracy on the source languages' test texts.

Usage:
    .venv/bin/python bench/text_components.py                 # egs/kat's languages, kat held out
    .venv/bin/python bench/text_components.py --quick         # smoke run, tiny sizes
    .venv/bin/python bench/text_components.py --pretrain-steps 3000 --out exp/text_bench
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import benchlib
import torch
import transformers

from speechml.cls.text_model import TextClassifier, TextClassifierConfig, train_text_classifier
from speechml.config import load_config
from speechml.data.corpus.config import CorpusConfig
from speechml.data.corpus.plan import plan_corpus
from speechml.data.datadir import DataDir
from speechml.lang.script import dominant_script
from speechml.text.adapt import adapt_vocabulary
from speechml.text.pretrain import TextPretrainConfig, pretrain_text_encoder
from speechml.text.retrieval import transliteration_retrieval
from speechml.text.romanize import Romanizer
from speechml.text.vocab import VocabExpansionConfig

ROOT = Path(__file__).resolve().parents[1]
QUICK_OVERRIDES = (
    "model.hidden_size=32",
    "model.intermediate_size=64",
    "model.vocab_size=300",
    "train.max_steps=10",
    "train.valid_every=10",
)
#: (encoder objective, vocabulary adaptation) of each row; None: the classifier from scratch.
ROWS: tuple[tuple[str | None, str], ...] = (
    (None, "none"),
    ("mlm", "none"),
    ("mlm", "random"),
    ("mlm", "multivariate"),
    ("mlm", "mean"),
    ("mlm", "ofa"),
    ("mlm", "transmi"),
    ("langsamp", "ofa"),
    ("translico", "ofa"),
    ("translico", "transmi"),
)


@dataclass
class Split:
    """Texts, languages and labels of one part of the corpus."""

    texts: list[str]
    langs: list[str]
    labels: list[str]

    def of(self, langs: set[str]) -> Split:
        keep = [i for i, lang in enumerate(self.langs) if lang in langs]
        return Split(
            *([values[i] for i in keep] for values in (self.texts, self.langs, self.labels))
        )

    def write(self, path: Path) -> Path:
        data = DataDir()
        for i, (text, lang, label) in enumerate(
            zip(self.texts, self.langs, self.labels, strict=True)
        ):
            utt = f"{lang}-{i:05d}"
            data.text[utt], data.utt2lang[utt], data.utt2spk[utt] = text, lang, lang
            data.utt2label[utt] = label
        data.write(path)
        return path


def system_name(objective: str | None, vocabulary: str) -> str:
    """A row's name: ``<objective or scratch>+<vocabulary adaptation>``."""
    return f"{objective or 'scratch'}+{vocabulary}"


def corpus_splits(config_path: Path, per_lang: int | None) -> dict[str, Split]:
    """train/dev/test texts of the corpus config, at most ``per_lang`` a language and split."""
    plan = plan_corpus(load_config(CorpusConfig, config_path), config_path)
    splits: dict[str, Split] = {}
    counts: dict[tuple[str, str], int] = {}
    for utt in plan.utterances:
        key = (utt.split, utt.lang.code)
        counts[key] = counts.get(key, 0) + 1
        if per_lang is not None and counts[key] > per_lang:
            continue
        split = splits.setdefault(utt.split, Split([], [], []))
        split.texts.append(utt.transcript)
        split.langs.append(utt.lang.code)
        split.labels.append(utt.label)
    return splits


def accuracy(classifier: TextClassifier, split: Split) -> float:
    predicted = classifier.predict(split.texts)
    hits = [p == label for p, label in zip(predicted, split.labels, strict=True)]
    return sum(hits) / max(1, len(hits))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model and sizes: a smoke run")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every training run")
    parser.add_argument(
        "--corpus-config",
        type=Path,
        default=ROOT / "egs/kat/conf/corpus.yaml",
        help="corpus config whose transcripts are used (default: egs/kat's)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT / "egs/kat/conf/cls_text.yaml",
        help="text-classifier config: the model sizes and the fine-tuning (default: egs/kat's)",
    )
    parser.add_argument("--target", default="kat", help="the held-out language (default: kat)")
    parser.add_argument("--pretrain-steps", type=int, default=1500, help="steps of each encoder")
    parser.add_argument("--vocab-size", type=int, default=500, help="pieces of the target's model")
    parser.add_argument("--out", type=Path, help="experiment dir (default: a temporary one)")
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=[system_name(*row) for row in ROWS],
        help="measure only these rows (default: all)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    transformers.logging.set_verbosity_error()  # the report of a head loaded without weights
    benchlib.set_threads(args.threads)
    config = load_config(TextClassifierConfig, args.config, QUICK_OVERRIDES if args.quick else ())
    config.train.seed = args.seed
    steps = 20 if args.quick else args.pretrain_steps
    pretraining = TextPretrainConfig(
        model=config.model,
        max_length=config.max_length,
        valid_texts=20 if args.quick else 200,
        train=replace(
            TextPretrainConfig().train, max_steps=steps, valid_every=steps, seed=args.seed
        ),
    )
    splits = corpus_splits(args.corpus_config, 40 if args.quick else None)
    langs = sorted(set(splits["train"].langs))
    if args.target not in langs:
        parser.error(f"--target {args.target} is not a language of {args.corpus_config}")
    sources = {lang for lang in langs if lang != args.target}
    vocab_size = 60 if args.quick else args.vocab_size
    benchlib.print_header(
        "Text components: zero-shot transfer to an unseen script",
        torch.device("cpu"),
        {
            "target": args.target,
            "sources": ",".join(sorted(sources)),
            "pretrain_steps": steps,
            "classifier_steps": config.train.max_steps,
            "vocab_size": vocab_size,
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        train, dev = splits["train"].of(sources), splits["dev"].of(sources)
        test_src, test_tgt = splits["test"].of(sources), splits["test"].of({args.target})
        target_text = splits["train"].of({args.target}).texts  # unlabelled: no labels are read
        train_dir, dev_dir = train.write(out / "data/train"), dev.write(out / "data/dev")
        romanized_tgt = replace(
            test_tgt, texts=Romanizer().romanize_many(test_tgt.texts, test_tgt.langs)
        )
        non_latin = test_src.of(
            {lang for lang in sources if dominant_script(test_src.of({lang}).texts[0]) != "Latn"}
        )
        encoders: dict[str, Path] = {}
        rows = []
        for objective, vocabulary in ROWS:
            name = system_name(objective, vocabulary)
            if args.systems and name not in args.systems:
                continue
            model_dir = None
            retr_src = retr_tgt = float("nan")
            if objective is not None:
                if objective not in encoders:
                    run = replace(pretraining, objective=objective)
                    pretrain_text_encoder(run, train.texts, train.langs, out / f"lm_{objective}")
                    encoders[objective] = out / f"lm_{objective}" / "model"
                model_dir = encoders[objective]
                retr_src, _ = transliteration_retrieval(model_dir, non_latin.texts, non_latin.langs)
                if vocabulary != "none":
                    expansion = (
                        None
                        if vocabulary == "transmi"
                        else VocabExpansionConfig(
                            init=vocabulary, vocab_size=vocab_size, seed=args.seed
                        )
                    )
                    transmi = "max" if vocabulary == "transmi" else None
                    adapted = out / f"adapted_{name}"
                    adapt_vocabulary(model_dir, adapted, target_text, expansion, transmi)
                    model_dir = adapted
                retr_tgt, _ = transliteration_retrieval(model_dir, test_tgt.texts, test_tgt.langs)
            classifier = train_text_classifier(
                config, train_dir, dev_dir, out / f"cls_{name}", model_dir
            )
            zero_shot = romanized_tgt if vocabulary == "transmi" else test_tgt
            src_acc = sum(accuracy(classifier, test_src.of({lang})) for lang in sources) / len(
                sources
            )
            rows.append([name, retr_src, retr_tgt, accuracy(classifier, zero_shot), src_acc])
            print(f"done: {name}", file=sys.stderr, flush=True)
    print(benchlib.format_table(["system", "retr_src", "retr_tgt", "zs_tgt", "acc_src"], rows))
    best = max(rows, key=lambda row: row[3])
    print(f"zero_shot_best: {best[3]:.4f} ({best[0]})")
    print(f"chance: {1 / len(set(splits['train'].labels)):.4f}")


if __name__ == "__main__":
    main()
