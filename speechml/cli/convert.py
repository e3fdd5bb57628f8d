"""``speechml data from-hf | to-hf | from-commonvoice | from-lhotse | to-lhotse``: convert corpora
to and from data dirs."""

from __future__ import annotations

import argparse
import logging

from speechml.data.conversion import RENAMED_FILE, SKIPPED_FILE, ConversionReport
from speechml.data.datadir import DataDir
from speechml.data.from_lhotse import lhotse_to_datadir
from speechml.data.to_lhotse import RECORDINGS_FILE, SUPERVISIONS_FILE, datadir_to_lhotse

logger = logging.getLogger(__name__)


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the conversion verbs to the ``data`` group."""
    from_hf = verbs.add_parser(
        "from-hf",
        help="Hugging Face dataset (save_to_disk) -> data dir(s)",
        description="Convert a dataset saved with save_to_disk to a data dir (a DatasetDict: "
        f"one data dir a split, DST/<split>). Unusable rows are listed in {SKIPPED_FILE}, "
        f"rewritten ids in {RENAMED_FILE}. Every split is checked before any data dir is "
        "written; each replaces its directory whole.",
    )
    from_hf.add_argument("src", metavar="SRC", help="directory of the saved dataset")
    from_hf.add_argument("dst", metavar="DST", help="output data dir")
    from_hf.add_argument("--split", help="convert only this split of a DatasetDict, into DST")
    from_hf.add_argument("--audio-column", default="audio", help="paths or Audio (default audio)")
    text = from_hf.add_mutually_exclusive_group()
    text.add_argument("--text-column", default="text", help="transcripts (default text)")
    text.add_argument("--no-text", action="store_true", help="no transcripts (classification data)")
    for table, meaning, otherwise in (
        ("id", "utterance ids", "<split>-<row>"),
        ("speaker", "speaker ids", "the utterance id"),
        ("language", "ISO 639-3 codes", "none; --lang replaces it"),
        ("duration", "durations in seconds", "none"),
        ("label", "class labels", "none"),
    ):
        from_hf.add_argument(
            f"--{table}-column",
            help=f"{meaning} (default: column '{table}' if present, else {otherwise})",
        )
    from_hf.add_argument(
        "--lang", help="ISO 639-3 code of every utterance, e.g. swh (not with --language-column)"
    )
    _add_audio_root_and_speaker_prefix(from_hf)
    from_hf.set_defaults(func=_from_hf)

    to_hf = verbs.add_parser(
        "to-hf",
        help="data dir -> Hugging Face dataset (save_to_disk)",
        description="Save a data dir as a dataset with columns id, audio (path), speaker and "
        "text, language, duration, label when present, plus one column a carried table "
        "(spk2gender, utt2uniq...).",
    )
    to_hf.add_argument("src", metavar="SRC", help="data dir")
    to_hf.add_argument("dst", metavar="DST", help="output dataset directory")
    to_hf.set_defaults(func=_to_hf)

    from_cv = verbs.add_parser(
        "from-commonvoice",
        help="Common Voice release -> data dirs DST/<split>",
        description="Convert a Common Voice locale directory (clips/*.mp3, <split>.tsv). Rows "
        f"with a missing clip or an empty sentence are listed in {SKIPPED_FILE}. Every tsv is "
        "checked before any data dir is written.",
    )
    from_cv.add_argument("release_dir", metavar="RELEASE_DIR", help="e.g. cv-corpus-17.0/sw")
    from_cv.add_argument("dst", metavar="DST", help="parent of the per-split data dirs")
    from_cv.add_argument(
        "--lang", required=True, help="ISO 639-3 code, e.g. swh (must agree with the locale)"
    )
    from_cv.add_argument(
        "--splits", nargs="+", default=["train", "dev", "test"], help="tsv names to convert"
    )
    from_cv.set_defaults(func=_from_commonvoice)

    from_lhotse = verbs.add_parser(
        "from-lhotse",
        help="lhotse RecordingSet + SupervisionSet manifests -> data dir",
        description="Convert lhotse manifests (.jsonl.gz or .jsonl) to a data dir: text, "
        "speaker, language (mapped to ISO 639-3), gender (spk2gender), custom label (utt2label) "
        "and other custom fields X (utt2X); segments when supervisions are parts of their "
        "recordings. Unusable supervisions (missing audio, URL or command sources, one channel "
        f"of several, unknown language...) are listed in {SKIPPED_FILE}, rewritten ids in "
        f"{RENAMED_FILE}. Nothing is written unless both manifests are well formed.",
    )
    from_lhotse.add_argument("recordings", metavar="RECORDINGS", help="RecordingSet manifest")
    from_lhotse.add_argument("supervisions", metavar="SUPERVISIONS", help="SupervisionSet manifest")
    from_lhotse.add_argument("dst", metavar="DST", help="output data dir")
    from_lhotse.add_argument(
        "--lang", help="ISO 639-3 code of the supervisions without a language, e.g. kat"
    )
    from_lhotse.add_argument(
        "--allow-pipes",
        action="store_true",
        help="write command sources as wav.scp pipes (not run now; skipped otherwise)",
    )
    _add_audio_root_and_speaker_prefix(from_lhotse)
    from_lhotse.set_defaults(func=_from_lhotse)

    to_lhotse = verbs.add_parser(
        "to-lhotse",
        help="data dir -> lhotse manifests DST/{recordings,supervisions}.jsonl.gz",
        description=f"Write {RECORDINGS_FILE} (one recording a wav.scp entry, from the audio "
        f"header) and {SUPERVISIONS_FILE} (one supervision an utterance: segments, text, "
        "speaker, language, gender, custom label and utt2X fields) into DST. Needs lhotse "
        "(pip install 'speechml[lhotse]'). Utterances whose audio is missing, unreadable or a "
        f"pipe are listed in DST/{SKIPPED_FILE}.",
    )
    to_lhotse.add_argument("src", metavar="SRC", help="data dir")
    to_lhotse.add_argument("dst", metavar="DST", help="output manifest directory")
    to_lhotse.set_defaults(func=_to_lhotse)


def _add_audio_root_and_speaker_prefix(parser: argparse.ArgumentParser) -> None:
    """Add ``--audio-root`` and ``--no-speaker-prefix``, which converters to data dirs share."""
    parser.add_argument("--audio-root", help="directory relative audio paths start from")
    parser.add_argument(
        "--no-speaker-prefix",
        action="store_true",
        help="keep utterance ids that do not start with their speaker id",
    )


def _log_reports(reports: list[ConversionReport]) -> None:
    for report in reports:
        skipped = f", {len(report.skipped)} rows skipped ({SKIPPED_FILE})" if report.skipped else ""
        renamed = (
            f", {len(report.renamed)} ids rewritten ({RENAMED_FILE})" if report.renamed else ""
        )
        logger.info("wrote %s: %d utterances%s%s", report.path, report.utterances, skipped, renamed)


def _from_hf(args: argparse.Namespace) -> None:
    """Handler of ``speechml data from-hf``."""
    from speechml.data.convert import hf_to_datadir  # Hugging Face datasets: slow to import

    reports = hf_to_datadir(
        args.src,
        args.dst,
        audio_column=args.audio_column,
        text_column=None if args.no_text else args.text_column,
        id_column=args.id_column,
        speaker_column=args.speaker_column,
        language_column=args.language_column,
        duration_column=args.duration_column,
        label_column=args.label_column,
        lang=args.lang,
        split=args.split,
        audio_root=args.audio_root,
        speaker_prefix=not args.no_speaker_prefix,
    )
    _log_reports(reports)


def _to_hf(args: argparse.Namespace) -> None:
    """Handler of ``speechml data to-hf``."""
    from speechml.data.convert import datadir_to_hf  # Hugging Face datasets: slow to import

    dataset = datadir_to_hf(DataDir.read(args.src), args.dst)
    logger.info("wrote %s: %d rows, columns %s", args.dst, len(dataset), dataset.column_names)


def _from_commonvoice(args: argparse.Namespace) -> None:
    """Handler of ``speechml data from-commonvoice``."""
    from speechml.data.convert import commonvoice_to_datadir  # Hugging Face datasets: slow

    _log_reports(commonvoice_to_datadir(args.release_dir, args.lang, args.dst, args.splits))


def _from_lhotse(args: argparse.Namespace) -> None:
    """Handler of ``speechml data from-lhotse``."""
    report = lhotse_to_datadir(
        args.recordings,
        args.supervisions,
        args.dst,
        lang=args.lang,
        audio_root=args.audio_root,
        allow_pipes=args.allow_pipes,
        speaker_prefix=not args.no_speaker_prefix,
    )
    _log_reports([report])


def _to_lhotse(args: argparse.Namespace) -> None:
    """Handler of ``speechml data to-lhotse``."""
    export = datadir_to_lhotse(DataDir.read(args.src), args.dst)
    skipped = f", {len(export.skipped)} left out ({SKIPPED_FILE})" if export.skipped else ""
    logger.info(
        "wrote %s: %d recordings, %d supervisions%s",
        export.path,
        export.recordings,
        export.supervisions,
        skipped,
    )
