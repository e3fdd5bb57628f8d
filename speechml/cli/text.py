"""``speechml text``: romanize, pretrain a text encoder, expand its vocabulary, retrieval.

Example::

    speechml text romanize data/train data/train_rom
    speechml text pretrain --config conf/text_lm.yaml --train data/train --exp exp/text_lm
    speechml text expand-vocab --model exp/text_lm/model --text data/cls/train_kat \
        --init ofa --out exp/text_lm_kat
    speechml text retrieval --model exp/text_lm_kat --data data/test_kat
"""

from __future__ import annotations

import argparse
from pathlib import Path

from speechml.cli import LazyChoices, add_overrides
from speechml.config import load_config
from speechml.experiment import record_experiment


def _pretrain(args: argparse.Namespace) -> None:
    from speechml.text.adapt import texts_and_langs
    from speechml.text.langsamp import LangSampForMaskedLM
    from speechml.text.pretrain import TextPretrainConfig, pretrain_text_encoder

    config = load_config(TextPretrainConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    texts, langs = texts_and_langs(args.train)
    _, model = pretrain_text_encoder(config, texts, langs, args.exp, args.init)
    if isinstance(model, LangSampForMaskedLM):
        model.plot_language_similarity(Path(args.exp) / "language_similarity.png")
    print(f"{Path(args.exp) / 'model'}: {config.objective} text encoder")


def _expand_vocab(args: argparse.Namespace) -> None:
    from speechml.text.adapt import adapt_vocabulary, texts_and_langs
    from speechml.text.vocab import VocabExpansionConfig

    texts, _ = texts_and_langs(args.text) if args.text else ([], [])
    expansion = None
    if args.init != "none":
        expansion = VocabExpansionConfig(init=args.init, vocab_size=args.vocab_size)
    transmi = None if args.transmi == "none" else args.transmi
    for report in adapt_vocabulary(args.model, args.out, texts, expansion, transmi):
        print(f"{args.out}: {report}")


def _retrieval(args: argparse.Namespace) -> None:
    from speechml.text.adapt import texts_and_langs
    from speechml.text.retrieval import transliteration_retrieval

    texts, langs = texts_and_langs([args.data])
    accuracy, pairs = transliteration_retrieval(args.model, texts, langs, args.layer)
    print(f"{args.data}: native -> romanized retrieval {100 * accuracy:.2f}% of {pairs}")


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``romanize``, ``pretrain``, ``expand-vocab`` and ``retrieval`` verbs."""
    romanize = verbs.add_parser(
        "romanize",
        help="copy a data dir with its text romanized by uroman (per utt2lang language)",
        description="Write OUT_DIR, a copy of SRC_DIR whose text is romanized by uroman in each "
        "utterance's language (utt2lang, ISO 639-3), lowercased and whitespace-collapsed; "
        "every other table is copied unchanged. OUT_DIR may be SRC_DIR.",
    )
    romanize.add_argument("src", metavar="SRC_DIR", help="source data dir")
    romanize.add_argument("out", metavar="OUT_DIR", help="output data dir")
    romanize.add_argument(
        "--keep-case", action="store_true", help="keep uroman's letter case (default: lowercase)"
    )
    romanize.set_defaults(func=_romanize)

    pretrain = verbs.add_parser(
        "pretrain",
        help="masked-LM pretraining of the text encoder (mlm, langsamp, translico); "
        "writes EXP/model",
    )
    pretrain.add_argument("--config", help="TextPretrainConfig YAML (default: built-in defaults)")
    pretrain.add_argument(
        "--train", action="append", required=True, help="data dir (text, utt2lang); repeatable"
    )
    pretrain.add_argument("--exp", required=True, help="experiment dir")
    pretrain.add_argument("--init", help="a local masked-LM dir to continue (XLM-R, Glot500...)")
    add_overrides(pretrain)
    pretrain.set_defaults(func=_pretrain)

    expand = verbs.add_parser(
        "expand-vocab",
        help="copy a masked LM with new pieces from a new language's text and/or TransMI",
    )
    expand.add_argument("--model", required=True, help="masked-LM dir with its tokenizer")
    expand.add_argument("--out", required=True, help="output model dir")
    expand.add_argument(
        "--text", action="append", default=[], help="data dir of the new text; repeatable"
    )
    expand.add_argument(
        "--init",
        default="ofa",
        metavar="INIT",
        choices=LazyChoices("speechml.text.embedding_init", "EMBEDDING_INITS", first=["none"]),
        help="initialisation of the new pieces' rows: %(choices)s (default: ofa; none: no "
        "new-text pieces)",
    )
    expand.add_argument(
        "--vocab-size", type=int, default=1000, help="pieces of the new text's sentencepiece model"
    )
    expand.add_argument(
        "--transmi",
        default="none",
        metavar="MERGE",
        choices=LazyChoices("speechml.text.transmi", "TRANSMI_MERGES", first=["none"]),
        help="also add the romanized forms of the vocabulary, merging scores this way: "
        "%(choices)s (default: none)",
    )
    expand.set_defaults(func=_expand_vocab)

    retrieval = verbs.add_parser(
        "retrieval",
        help="native -> uroman transliteration retrieval accuracy of a text encoder",
    )
    retrieval.add_argument("--model", required=True, help="masked-LM dir with its tokenizer")
    retrieval.add_argument("--data", required=True, help="data dir (text, utt2lang)")
    retrieval.add_argument(
        "--layer", type=int, default=0, help="hidden state pooled (default 0: the middle layer)"
    )
    retrieval.set_defaults(func=_retrieval)


def _romanize(args: argparse.Namespace) -> None:
    from speechml.text.romanize import romanize_data_dir

    data = romanize_data_dir(args.src, args.out, lowercase=not args.keep_case)
    languages = ", ".join(data.languages()) or "no utt2lang"
    print(f"{args.out}: romanized {len(data.text)} transcripts ({languages})")
