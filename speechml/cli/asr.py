"""``speechml asr``: train and decode streaming transducer recognisers."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechml.asr.confidence import (
    CONFIDENCES,
    DEFAULT_MIN_CONFIDENCE,
    chars_per_second,
    confidence_report,
)
from speechml.asr.ngram_lm import LmDir, lm_texts, train_lm_dir
from speechml.cli import LazyChoices, add_overrides, comma_separated, in_range
from speechml.config import load_config
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError
from speechml.experiment import record_experiment
from speechml.io import atomic_write_text
from speechml.score.decode_dir import HYP_FILE

#: the searches and methods of speechml.asr.recognizer, read when an option is checked
SEARCHES = LazyChoices("speechml.asr.recognizer", "SEARCHES")
METHODS = LazyChoices("speechml.asr.recognizer", "METHODS")


def _train(args: argparse.Namespace) -> None:
    from speechml.asr.train import (
        AsrTrainConfig,
        FinetuneConfig,
        check_starting_point,
        finetune_asr,
        train_asr,
    )

    check_starting_point(args.tokenizer, args.cmvn, args.init, args.init_encoder)
    if args.init is not None:
        tuning = load_config(FinetuneConfig, args.config, args.overrides)
        record_experiment(args.exp, tuning, args.argv)
        finetune_asr(tuning, args.init, args.train, args.dev, args.exp)
        return
    config = load_config(AsrTrainConfig, args.config, args.overrides)
    record_experiment(args.exp, config, args.argv)
    train_asr(config, args.train, args.dev, args.exp, args.tokenizer, args.cmvn, args.init_encoder)


def _tail_counts(langs: str, values: list[int]) -> dict[str, int]:
    """``--lang kat,ell --labelled 300,150`` -> ``{"kat": 300, "ell": 150}``."""
    codes = langs.split(",")
    where = f"--lang {langs} --labelled {','.join(map(str, values))}"
    if len(codes) != len(values):
        raise ConfigError(
            f"{where}: give one labelled count per tail language "
            f"({len(codes)} language(s), {len(values)} count(s))"
        )
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise ConfigError(f"{where}: {', '.join(twice)} listed twice")
    return {code: value for code, value in zip(codes, values, strict=True)}


def _tail_split(args: argparse.Namespace) -> None:
    from speechml.asr.tail import tail_split
    from speechml.data.feature_store import derive_store

    labelled = _tail_counts(args.lang, args.labelled)
    data = DataDir.read(args.data)
    parts = tail_split(data, labelled, args.upsample, args.seed)
    for name, part in parts.items():
        part.write(Path(args.out_dir) / name)
        derive_store(data, part)
        print(f"{Path(args.out_dir) / name}: {len(part)} utterances")


def _adapter_dirs(paths: list[str]) -> dict[str, Path]:
    """Language -> adapter dir; a dir without ``adapter_config.json`` stands for the adapter
    dirs inside it (a multi-language run's ``EXP/adapters``)."""
    from speechml.asr.adapters import ADAPTER_CONFIG, read_adapter_config

    found: dict[str, Path] = {}
    for path in map(Path, paths):
        inner = (
            []
            if (path / ADAPTER_CONFIG).is_file() or not path.is_dir()
            else sorted(p for p in path.iterdir() if p.is_dir())
        )
        for directory in inner or [path]:  # none inside: read_adapter_config names the file
            lang = read_adapter_config(directory)["language"]
            if lang in found:
                raise ConfigError(f"two adapters of {lang}: {found[lang]} and {directory}")
            found[lang] = directory
    return found


def _train_adapter(args: argparse.Namespace) -> None:
    from speechml.asr.train import AdapterTrainConfig, train_adapter, train_adapters

    config = load_config(AdapterTrainConfig, args.config, args.overrides)
    langs = args.lang.split(",")
    init = _adapter_dirs(args.init_adapter)
    record_experiment(args.exp, config, args.argv)
    if len(langs) == 1:
        if len(init) > 1:
            raise ConfigError(f"--init-adapter: one adapter for --lang {args.lang}")
        start = next(iter(init.values()), None)
        train_adapter(config, args.model, langs[0], args.train, args.dev, args.exp, start)
    else:
        train_adapters(config, args.model, langs, args.train, args.dev, args.exp, init)


def _add_lm_options(parser: argparse.ArgumentParser) -> None:
    """``--lm DIR`` and ``--lm-weight X``: n-gram LMs fused in beam search."""
    parser.add_argument(
        "--lm", metavar="DIR", help="n-gram LM dir (train-lm) fused in beam search (--method beam)"
    )
    parser.add_argument(
        "--lm-weight", type=float, default=0.3, help="weight of the LM's log-probabilities"
    )


def _teacher_lm(args: argparse.Namespace) -> LmDir | None:
    return LmDir.load(args.lm) if args.lm else None


def _rates(kinds: list[str], rates_from: str | None) -> dict[str, float] | None:
    """Characters a second by language for a ``length`` confidence, from ``--rates-from``."""
    if "length" not in kinds:
        return None
    if rates_from is None:
        raise ConfigError("--confidence length needs --rates-from DIR (labelled data)")
    return chars_per_second(DataDir.read(rates_from))


def _pseudo_label(args: argparse.Namespace) -> None:
    from speechml.asr.pseudo_label import pseudo_label, write_pseudo_labels
    from speechml.asr.recognizer import Recognizer

    teacher = Recognizer.load(args.model)
    labelled, report = pseudo_label(
        teacher,
        DataDir.read(args.data),
        args.min_confidence,
        second_pass=not args.causal_pass,
        method=args.method,
        confidence=args.confidence,
        rates=_rates([args.confidence], args.rates_from),
        lm=_teacher_lm(args),
        lm_weight=args.lm_weight,
    )
    extra = DataDir.read(args.combine_with) if args.combine_with else None
    written = write_pseudo_labels(labelled, report, args.out, extra)
    print(f"{report.kept} kept, {report.dropped} dropped; {len(written)} utterances -> {args.out}")


def _confidence_report(args: argparse.Namespace) -> None:
    from speechml.asr.pseudo_label import teacher_decode
    from speechml.asr.recognizer import Recognizer

    rates = _rates(args.confidence, args.rates_from)
    data = DataDir.read(args.data)
    model = Recognizer.load(args.model)
    lm = _teacher_lm(args)
    result, teacher = teacher_decode(
        model, data, not args.causal_pass, args.method, lm=lm, lm_weight=args.lm_weight
    )
    text = f"# {args.model} on {args.data}: {teacher}\n" + "".join(
        confidence_report(result, data, args.min_confidence, kind, rates).to_text()
        for kind in args.confidence
    )
    if args.out:
        atomic_write_text(args.out, text)
    print(text, end="")


def _merge(args: argparse.Namespace) -> None:
    from speechml.asr.adapters import merge_adapters
    from speechml.asr.recognizer import Recognizer

    recognizer = Recognizer.load(args.model)
    adapters = _adapter_dirs(args.adapters)
    merge_adapters(recognizer.model, adapters)
    recognizer.save(args.out)
    print(f"{args.out}: {args.model} + adapters {', '.join(sorted(adapters))}")


def _lda_report(args: argparse.Namespace) -> None:
    from speechml.asr.report import lda_summary

    text = lda_summary(
        args.lang.split(","),
        args.base,
        args.lda,
        args.merged,
        args.finetune,
        args.pseudo_labels,
        args.iterations,
    )
    atomic_write_text(args.out, text)
    print(text)


def _train_lm(args: argparse.Namespace) -> None:
    from speechml.asr.recognizer import TOKENIZER_DIR
    from speechml.data.tokenizer import CONFIG_FILE as TOKENIZER_FILE
    from speechml.data.tokenizer import load_tokenizer

    tokenizer_dir = Path(args.tokenizer)
    if not (tokenizer_dir / TOKENIZER_FILE).is_file() and (tokenizer_dir / TOKENIZER_DIR).is_dir():
        tokenizer_dir = tokenizer_dir / TOKENIZER_DIR  # a model dir: its tokenizer
    texts = lm_texts(
        [DataDir.read(path) for path in args.data], args.text, args.lang, args.per_language
    )
    lms = train_lm_dir(load_tokenizer(tokenizer_dir), texts, args.order, args.out, args.arpa)
    for lang, sentences in texts.items():
        name = lang or "every language"
        print(f"{args.out}: order-{args.order} LM of {name}, {len(sentences)} sentences")
    print(f"{args.out}: LMs of {', '.join(lms.languages) or 'every language (shared)'}")


def _export(args: argparse.Namespace) -> None:
    from speechml.asr.export import export_onnx
    from speechml.asr.recognizer import Recognizer

    files = export_onnx(Recognizer.load(args.model), args.out, args.lang, args.int8)
    print(f"{args.out}: {', '.join(f.name for f in files)}")


def _decode(args: argparse.Namespace) -> None:
    from speechml.asr.decode import DecodeOptions, decode_to_dir

    if (args.model is None) == (args.onnx is None):
        raise ConfigError("give --model DIR or --onnx DIR (an export dir), not both")
    if args.onnx and (
        args.method != "streaming" or args.second_pass or args.lm or args.chunk_size is not None
    ):
        raise ConfigError(
            "--onnx decodes the streaming encoder at its exported chunk size: "
            "--method streaming, no LM, no --chunk-size"
        )
    options = DecodeOptions(
        method=args.method,
        second_pass=args.second_pass,
        beam=args.beam,
        batch_size=args.batch_size,
        allow_pipes=args.allow_pipes,
        blank_penalty=args.blank_penalty,
        lm=args.lm,
        lm_weight=args.lm_weight,
        lm_eos=args.lm_eos,
        max_symbols=args.max_symbols,
        chunk_size=args.chunk_size,
        int8=args.int8,
    )
    print(decode_to_dir(args.data, args.out, args.model, args.onnx, options))


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the ``asr`` verbs: tail-split, train, train-adapter, pseudo-label, confidence-report,
    merge, lda-report, decode, export, train-lm."""
    split = verbs.add_parser(
        "tail-split",
        help="OUT_DIR/train_base (head languages + a few labelled utterances of each tail "
        "language), OUT_DIR/LANG_labelled, OUT_DIR/LANG_untranscribed (the rest, no text)",
        description="The data plan of the adapter recipe, e.g. --lang kat,ell,amh --labelled "
        "300,150,600: each tail language keeps its own number of transcribed utterances (the "
        "base trains on them and on every other language whole); its other utterances are "
        "written without text, for pseudo-labelling. Each part shares the features stored "
        "in the data dir's fbank/ (compute-fbank), hard-linked.",
    )
    split.add_argument("--data", required=True, help="training data dir with utt2lang")
    split.add_argument(
        "--lang", required=True, help="the tail language(s), ISO 639-3, comma-separated"
    )
    split.add_argument(
        "--labelled",
        required=True,
        type=comma_separated(in_range(1)),
        help="labelled utterances of each tail language, comma-separated, in --lang's order",
    )
    split.add_argument(
        "--upsample",
        type=in_range(1),
        default=1,
        help="times each labelled tail utterance occurs in train_base (copies up2-<utt>... "
        "with the same audio; default 1)",
    )
    split.add_argument("--out-dir", required=True, help="where the data dirs go")
    split.add_argument("--seed", type=int, default=0)
    split.set_defaults(func=_tail_split)

    train = verbs.add_parser(
        "train",
        help="train (or resume) a transducer; writes EXP/model",
        description="Train a transducer from scratch (--tokenizer, optional --cmvn), fine-tune "
        "a whole model dir (--init), or start from a model dir's encoder, fbank options and "
        "CMVN with a new tokenizer and new predictor, joiner and CTC head (--init-encoder "
        "with --tokenizer), e.g. a recogniser of romanized text from a native-script one.",
    )
    train.add_argument(
        "--config",
        help="AsrTrainConfig YAML, with --init a FinetuneConfig one (default: built-in defaults)",
    )
    train.add_argument("--train", required=True, help="training data dir")
    train.add_argument("--dev", required=True, help="dev data dir (validation, best checkpoint)")
    train.add_argument("--tokenizer", help="tokenizer dir (from scratch or --init-encoder)")
    train.add_argument("--cmvn", help="CMVN statistics file (from scratch)")
    train.add_argument("--exp", required=True, help="experiment dir")
    start = train.add_mutually_exclusive_group()
    start.add_argument(
        "--init",
        help="model dir to fine-tune (all weights; its architecture, tokenizer and front end)",
    )
    start.add_argument(
        "--init-encoder",
        metavar="DIR",
        help="model dir whose encoder, fbank options and CMVN start a model for --tokenizer "
        "(new predictor, joiner and CTC head; config model.encoder and fbank not used)",
    )
    add_overrides(train)
    train.set_defaults(func=_train)

    adapter = verbs.add_parser(
        "train-adapter",
        help="train language adapters on a frozen base; one language writes EXP/model and "
        "EXP/adapter, several EXP/model and EXP/adapters/LANG (each from its best step)",
        description="With --lang kat,ell,amh all adapters train in one run: mixed batches, "
        "each utterance through its language's adapter (utt2lang), each validation scoring "
        "every language (dev_wer_LANG), each adapter kept from its own best step "
        "(EXP/adapters/LANG, EXP/best_steps.json, EXP/dev_wer_per_language.png).",
    )
    adapter.add_argument("--config", help="AdapterTrainConfig YAML (default: built-in defaults)")
    adapter.add_argument("--model", required=True, help="the frozen base model dir")
    adapter.add_argument(
        "--lang", required=True, help="ISO 639-3 code(s) of the adapter(s), comma-separated"
    )
    adapter.add_argument("--train", required=True, help="training data dir (utt2lang in LANG)")
    adapter.add_argument("--dev", required=True, help="dev data dir of LANG")
    adapter.add_argument("--exp", required=True, help="experiment dir")
    adapter.add_argument(
        "--init-adapter",
        metavar="DIR",
        nargs="+",
        default=[],
        help="start from these adapters (trained on the same base), e.g. the teacher's: "
        "adapter dirs, or dirs of them (EXP/adapters)",
    )
    add_overrides(adapter)
    adapter.set_defaults(func=_train_adapter)

    label = verbs.add_parser(
        "pseudo-label", help="transcribe untranscribed audio with a teacher, keep confident ones"
    )
    label.add_argument("--model", required=True, help="the teacher model dir")
    label.add_argument("--data", required=True, help="untranscribed data dir")
    label.add_argument("--out", required=True, help="output data dir (+ pseudo_label_report.txt)")
    label.add_argument(
        "--min-confidence",
        type=in_range(0, 1, float),
        default=DEFAULT_MIN_CONFIDENCE,
        help="threshold in [0, 1] (default %(default)s)",
    )
    label.add_argument(
        "--method",
        metavar="SEARCH",
        choices=SEARCHES,
        default="greedy",
        help="the teacher's search: %(choices)s (transducer greedy or beam, or the CTC head's "
        "best path; default: greedy)",
    )
    label.add_argument(
        "--combine-with", help="a labelled data dir to add to the pseudo-labels (the student's)"
    )
    label.add_argument(
        "--causal-pass", action="store_true", help="use the causal pass, not the second pass"
    )
    label.add_argument(
        "--confidence",
        choices=CONFIDENCES,
        default="symbols",
        help="symbols: the search's (blanks included); length: mean token posterior times "
        "the hypothesis's length against the expected (needs --rates-from)",
    )
    label.add_argument(
        "--rates-from", metavar="DIR", help="labelled data dir: characters a second by language"
    )
    _add_lm_options(label)
    label.set_defaults(func=_pseudo_label)

    confidence = verbs.add_parser(
        "confidence-report",
        help="how well a teacher's confidence predicts its errors on a labelled dev set",
        description="Decode DATA as pseudo-label does, then report for each --confidence the "
        "Pearson and Spearman correlation of the confidence with per-utterance CER (negative: "
        "it predicts errors) and the kept/dropped counts (and their CER) at --min-confidence.",
    )
    confidence.add_argument("--model", required=True, help="the teacher model dir")
    confidence.add_argument("--data", required=True, help="labelled dev data dir")
    confidence.add_argument(
        "--confidence", nargs="+", choices=CONFIDENCES, default=["symbols"], help="measures"
    )
    confidence.add_argument(
        "--rates-from", metavar="DIR", help="labelled data dir: characters a second by language"
    )
    confidence.add_argument(
        "--min-confidence",
        type=in_range(0, 1, float),
        default=DEFAULT_MIN_CONFIDENCE,
        help="threshold in [0, 1] (default %(default)s)",
    )
    confidence.add_argument(
        "--method",
        metavar="SEARCH",
        choices=SEARCHES,
        default="greedy",
        help="the teacher's search: %(choices)s (default: greedy)",
    )
    _add_lm_options(confidence)
    confidence.add_argument(
        "--causal-pass", action="store_true", help="use the causal pass, not the second pass"
    )
    confidence.add_argument("--out", help="also write the report to this file")
    confidence.set_defaults(func=_confidence_report)

    merge = verbs.add_parser(
        "merge", help="one multi-locale model: a base plus each language's adapter"
    )
    merge.add_argument("--model", required=True, help="the base model dir")
    merge.add_argument(
        "--adapters",
        nargs="+",
        required=True,
        help="adapter dirs (EXP/adapter), one a language, or dirs of them (EXP/adapters of a "
        "multi-language run: each language from its best step)",
    )
    merge.add_argument("--out", required=True, help="the merged model dir")
    merge.set_defaults(func=_merge)

    report = verbs.add_parser(
        "lda-report",
        help="markdown summary of an adapter run: each tail language's WER vs base and "
        "fine-tuning (and their mean), best steps, adapter shares, head languages",
    )
    report.add_argument("--lang", required=True, help="the tail language(s), comma-separated")
    report.add_argument("--base", required=True, help="exp dir of the base")
    report.add_argument("--lda", required=True, help="exp dir of the adapter run")
    report.add_argument("--merged", required=True, help="exp dir of the merged model")
    report.add_argument(
        "--finetune",
        nargs="+",
        required=True,
        help="exp dir of full fine-tuning, or one per tail language in --lang's order",
    )
    report.add_argument(
        "--pseudo-labels", nargs="*", default=[], help="pseudo-label data dirs to summarise"
    )
    report.add_argument(
        "--iterations",
        nargs="*",
        default=[],
        help="adapter runs of the noisy-student iterations before the last, in order "
        "(each with decode_test_tail scored)",
    )
    report.add_argument("--out", required=True, help="markdown file to write")
    report.set_defaults(func=_lda_report)

    decode = verbs.add_parser("decode", help=f"decode a data dir into DECODE_DIR/{HYP_FILE}")
    decode.add_argument("--model", help="model dir (EXP/model); or --onnx")
    decode.add_argument(
        "--onnx",
        metavar="DIR",
        help="run an export dir (speechml asr export) with onnxruntime, --method streaming",
    )
    decode.add_argument("--int8", action="store_true", help="--onnx: the int8 copies")
    decode.add_argument(
        "--max-symbols",
        type=in_range(1),
        default=3,
        help="tokens a frame at most (greedy, streaming; sherpa-onnx emits 1)",
    )
    decode.add_argument("--data", required=True, help="data dir to decode")
    decode.add_argument("--out", required=True, help="decode dir (EXP/decode_<set>)")
    decode.add_argument(
        "--method",
        metavar="METHOD",
        choices=METHODS,
        default="greedy",
        help="%(choices)s (default: greedy); ctc: best path of the CTC head (a model trained "
        "with ctc_weight 1)",
    )
    decode.add_argument("--second-pass", action="store_true", help="decode the non-causal pass")
    decode.add_argument(
        "--chunk-size",
        type=in_range(0),
        help="frames (40 ms) a chunk of the causal pass; 0: full context (not streaming); "
        "default: the model's chunk_size",
    )
    decode.add_argument("--beam", type=in_range(1), default=4, help="beam size (--method beam)")
    decode.add_argument(
        "--blank-penalty",
        type=float,
        default=0.0,
        help="subtracted from the blank's log-probability before each choice (every method; "
        "positive: fewer deletions, more insertions)",
    )
    _add_lm_options(decode)
    decode.add_argument(
        "--lm-eos",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the LM's end-of-sentence score to the final hypotheses",
    )
    decode.add_argument("--batch-size", type=in_range(1), default=16)
    decode.add_argument("--allow-pipes", action="store_true", help="allow wav.scp pipes")
    decode.set_defaults(func=_decode)

    export = verbs.add_parser(
        "export",
        help="ONNX export for sherpa-onnx: encoder, decoder, joiner, tokens.txt (+ streaming)",
    )
    export.add_argument("--model", required=True, help="model dir (EXP/model)")
    export.add_argument("--out", required=True, help="the export dir (replaced)")
    export.add_argument("--lang", help="fold this language's adapter into the encoders")
    export.add_argument("--int8", action="store_true", help="also dynamically quantised copies")
    export.set_defaults(func=_export)

    lm = verbs.add_parser(
        "train-lm",
        help="n-gram LMs over a recogniser's tokens (one shared or one a language) for decode --lm",
        description="Train interpolated Kneser-Ney n-gram LMs over the token ids of a "
        "tokenizer, from data dirs' transcripts and/or plain text files (one sentence a line). "
        "Without --lang or --per-language one LM serves every language; with --lang the text "
        "is that language's and its LM joins the others in OUT; with --per-language the data "
        "dirs' utterances are split by utt2lang, one LM each.",
    )
    lm.add_argument(
        "--tokenizer", required=True, help="tokenizer dir, or a model dir (its tokenizer/)"
    )
    lm.add_argument("--data", action="append", default=[], help="data dir; repeatable")
    lm.add_argument("--text", action="append", default=[], help="text file; repeatable")
    by_lang = lm.add_mutually_exclusive_group()
    by_lang.add_argument("--lang", help="the language of all the text (ISO 639-3)")
    by_lang.add_argument(
        "--per-language", action="store_true", help="one LM per language of utt2lang"
    )
    lm.add_argument("--order", type=in_range(1), default=6, help="n-gram order (6 for characters)")
    lm.add_argument("--out", required=True, help="the LM dir")
    lm.add_argument("--arpa", action="store_true", help="also write <lang>.arpa files")
    lm.set_defaults(func=_train_lm)
