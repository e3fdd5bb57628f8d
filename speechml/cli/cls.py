"""``speechml cls``: train semantic classifiers of speech and write their predictions.

Three kinds of model, each a directory ``EXP/model``: the character n-gram baseline and the
small transformer classify texts (the reference transcripts, or ASR hypotheses: the cascade);
the end-to-end classifier listens to the audio. ``predict`` tells them apart by their files.

Examples::

    speechml cls train-ngram --train data/train --exp exp/cls_ngram
    speechml cls train-text --train data/train --dev data/dev --exp exp/cls_text \\
        --set train.max_steps=500
    speechml cls train-e2e --train data/train --dev data/dev --exp exp/cls_e2e \\
        --init exp/asr/model
    speechml cls predict --model exp/cls_text/model --data data/test \\
        --out exp/cls_text/decode_test --text-source exp/asr/decode_test
    speechml score cls --data data/test --decode-dir exp/cls_text/decode_test
    speechml cls settings --train data/train --dev data/dev --test data/test \\
        --held-out kat --out-dir data/cls
    speechml cls report --exp exp/cls --out exp/cls/summary.md
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from speechml.cli import add_overrides
from speechml.config import load_config
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError
from speechml.experiment import record_experiment
from speechml.score.decode_dir import HYP_FILE, LABELS_FILE, labels_path

logger = logging.getLogger(__name__)


def _train_ngram(args: argparse.Namespace) -> None:
    from speechml.cls.ngram import NgramConfig, train_ngram

    config = load_config(NgramConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    classifier = train_ngram(args.train, config, args.text_source)
    model_dir = classifier.save(Path(args.exp) / "model")
    print(f"{model_dir}: n-gram classifier of {len(classifier.classes)} classes")


def _train_text(args: argparse.Namespace) -> None:
    from speechml.cls.text_model import TextClassifierConfig, train_text_classifier

    config = load_config(TextClassifierConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    classifier = train_text_classifier(
        config, args.train, args.dev, args.exp, args.init, args.text_source, args.unlabelled
    )
    print(f"{Path(args.exp) / 'model'}: text classifier of {len(classifier.labels)} classes")


def _train_e2e(args: argparse.Namespace) -> None:
    from speechml.cls.train_e2e import E2eConfig, train_e2e

    config = load_config(E2eConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    print(f"{train_e2e(config, args.train, args.dev, args.exp, args.init)}: speech classifier")


def _predict(args: argparse.Namespace) -> None:
    from speechml.cls.classify import classify_data_dirs
    from speechml.cls.kinds import model_kind

    model_dir = Path(args.model)
    kind = model_kind(model_dir)
    sources = args.text_source or [None] * len(args.data)
    if len(args.out) != len(args.data) or len(sources) != len(args.data):
        raise ConfigError(
            f"--data names {len(args.data)} dirs: --out (got {len(args.out)}) and --text-source "
            f"(got {len(args.text_source or [])}, or none) need one each, in the same order"
        )
    if kind == "speech" and args.text_source:
        raise ConfigError(f"--text-source is for text classifiers; {model_dir} hears audio")
    written = classify_data_dirs(model_dir, args.data, args.out, sources, args.allow_pipes)
    for out, predicted in zip(args.out, written, strict=True):
        print(f"{kind} classifier: {len(predicted)} utterances -> {labels_path(out)}")


def _settings(args: argparse.Namespace) -> None:
    from speechml.cls.settings import SETTINGS_FILE, write_settings

    settings = write_settings(
        DataDir.read(args.train),
        DataDir.read(args.dev),
        DataDir.read(args.test),
        args.langs,
        args.held_out,
        args.out_dir,
    )
    languages = next(s for s in settings if s.name == "multi").test_langs
    held_out = f" (held out: {', '.join(args.held_out)})" if args.held_out else ""
    print(
        f"{Path(args.out_dir) / SETTINGS_FILE}: {len(settings)} settings over "
        f"{len(languages)} languages{held_out}"
    )


def _report(args: argparse.Namespace) -> None:
    from speechml.cls.report import write_report

    written = write_report(args.exp, args.out)
    heat_maps = ", ".join(path.name for path in written[2:])
    print(f"{written[0]}: {len(written) - 2} method(s); numbers in {written[1]}; {heat_maps}")


def _language_list(text: str) -> list[str]:
    """``"eng,rus"`` -> ``["eng", "rus"]`` (codes are checked by the settings)."""
    return text.split(",")


def _add_text_source(
    parser: argparse.ArgumentParser, what: str, per_data_dir: bool = False
) -> None:
    """``--text-source``: one source, or (``per_data_dir``) one per ``--data`` dir."""
    parser.add_argument(
        "--text-source",
        metavar="SRC",
        nargs="+" if per_data_dir else None,
        help=f"{what} other texts than DATA/text{', one SRC per data dir' if per_data_dir else ''}"
        f": an ASR decode dir (its {HYP_FILE}), a .trn file or a Kaldi text table with a text for "
        "every utterance",
    )


def _training_verb(
    verbs: argparse._SubParsersAction, name: str, help_text: str, config: str, dev: bool = True
) -> argparse.ArgumentParser:
    """A training verb with ``--config`` (of class ``config``), ``--train``, ``--dev``, ``--exp``
    and ``--set``."""
    parser = verbs.add_parser(name, help=help_text)
    parser.add_argument("--config", help=f"{config} YAML (default: built-in defaults)")
    parser.add_argument("--train", required=True, help="training data dir with utt2label")
    if dev:
        parser.add_argument("--dev", required=True, help="dev data dir (validation, best model)")
    parser.add_argument("--exp", required=True, help="experiment dir")
    add_overrides(parser, "train.max_steps=100" if dev else "ngram_range=[2,5]")
    return parser


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``cls`` verbs: train-ngram, train-text, train-e2e, predict, settings, report."""
    ngram_verb = _training_verb(
        verbs,
        "train-ngram",
        "fit the character n-gram TF-IDF + logistic regression classifier; writes EXP/model",
        "NgramConfig",
        dev=False,
    )
    _add_text_source(ngram_verb, "train on")
    ngram_verb.set_defaults(func=_train_ngram)

    text = _training_verb(
        verbs,
        "train-text",
        "train (or resume) a small transformer text classifier, or fine-tune one; writes EXP/model",
        "TextClassifierConfig",
    )
    text.add_argument("--init", help="a local transformers model dir (and tokenizer) to fine-tune")
    text.add_argument(
        "--unlabelled",
        action="append",
        default=[],
        metavar="DIR",
        help="data dir of unlabelled text of a new language, for the config's "
        "encoder.expansion (repeatable)",
    )
    _add_text_source(text, "train on")
    text.set_defaults(func=_train_text)

    e2e = _training_verb(
        verbs,
        "train-e2e",
        "train (or resume) an end-to-end speech classifier; writes EXP/model",
        "E2eConfig",
    )
    e2e.add_argument(
        "--init",
        help="conformer: a recogniser model dir to start from; hf: the transformers model dir "
        "(required)",
    )
    e2e.set_defaults(func=_train_e2e)

    predict = verbs.add_parser(
        "predict",
        help=f"classify every utterance of a data dir into OUT/{LABELS_FILE} (for speechml "
        "score cls)",
    )
    predict.add_argument(
        "--model", required=True, help="a classifier model dir (EXP/model), of any kind"
    )
    predict.add_argument(
        "--data", required=True, nargs="+", help="data dirs to classify (one model load for all)"
    )
    predict.add_argument(
        "--out", required=True, nargs="+", help="a decode dir (EXP/decode_<set>) per data dir"
    )
    _add_text_source(predict, "text models: classify", per_data_dir=True)
    predict.add_argument("--allow-pipes", action="store_true", help="allow wav.scp pipes")
    predict.set_defaults(func=_predict)

    settings = verbs.add_parser(
        "settings",
        help="write the data dirs of the mono, zero-shot, multi and held-out settings, and "
        "OUT_DIR/settings.json listing them",
    )
    for part in ("train", "dev", "test"):
        settings.add_argument(f"--{part}", required=True, help=f"{part} data dir with utt2lang")
    settings.add_argument(
        "--langs",
        type=_language_list,
        metavar="L1,L2,...",
        help="ISO 639-3 codes to compare, in table order (default: every language of --train)",
    )
    settings.add_argument(
        "--held-out",
        type=_language_list,
        default=[],
        metavar="L1,...",
        help="languages left out of train_heldout and tested on (default: no held-out setting)",
    )
    settings.add_argument("--out-dir", required=True, help="where the data dirs are written")
    settings.set_defaults(func=_settings)

    report = verbs.add_parser(
        "report",
        help="collect EXP/<method>/<train>/decode_<lang>/report.json into a markdown table of the "
        "settings, a JSON beside it and a heat map per method",
    )
    report.add_argument("--exp", required=True, help="the experiment dir (EXP)")
    report.add_argument(
        "--out",
        required=True,
        help="the markdown file, e.g. EXP/summary.md (summary.json and <method>_zero_shot.png "
        "go beside it)",
    )
    report.set_defaults(func=_report)
