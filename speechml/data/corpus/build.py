"""Build the embedded corpus: plan, synthesise in parallel, write data dirs, README, ``.done``.

A build writes ``corpus.yaml`` first and ``.done`` last. Rebuilding with the same config when
``.done`` exists does nothing; without ``.done`` it resumes (complete WAVs are kept, since they
are written atomically). A different config is refused unless ``force`` is given, which removes
the old corpus first.

Example:
    >>> from speechml.config import load_config
    >>> from speechml.data.corpus.config import DEFAULT_CONFIG
    >>> config = load_config(CorpusConfig, DEFAULT_CONFIG, ["utts_per_lang.train=20"])
    >>> build_corpus(config, "/tmp/corpus", nj=2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from speechml.config import read_yaml, save_config, to_dict
from speechml.data.corpus.config import SPLITS, CorpusConfig, check_config
from speechml.data.corpus.plan import Utterance, plan_corpus
from speechml.data.corpus.readme import render_readme
from speechml.data.corpus.synth import (
    SynthJob,
    check_voices,
    espeak_version,
    synthesize_all,
)
from speechml.data.datadir import DataDir
from speechml.errors import SpeechmlError
from speechml.io import atomic_write_text

logger = logging.getLogger(__name__)

CONFIG_FILE = "corpus.yaml"
DONE_FILE = ".done"
OUTPUTS = ("data", "wav", CONFIG_FILE, "README.md", DONE_FILE)  # what a build writes


def wav_path(out: Path, utt: Utterance) -> Path:
    """``out/wav/<lang>/<split>/<utt>.wav``."""
    return out / "wav" / utt.lang.code / utt.split / f"{utt.utt_id}.wav"


def _existing_corpus(config: CorpusConfig, out: Path, force: bool) -> str:
    """What ``out`` holds for ``config``: ``"finished"``, ``"partial"``, ``"other"`` or ``"none"``.

    Raises:
        SpeechmlError: ``out`` holds a corpus of another config, or other files, and not
            ``force``.
    """
    saved = out / CONFIG_FILE
    if saved.is_file():
        if read_yaml(saved) == to_dict(config):
            return "finished" if (out / DONE_FILE).is_file() else "partial"
        if not force:
            raise SpeechmlError(
                f"{out} holds a corpus built with another config ({saved}); "
                "choose another --out or pass --force to rebuild it"
            )
        return "other"
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SpeechmlError(
            f"{out} is not empty and holds no {CONFIG_FILE}; choose an empty or new --out "
            "(or pass --force to write the corpus there anyway)"
        )
    return "none"


def _remove_corpus(out: Path) -> None:
    """Delete what a build writes in ``out`` (and nothing else)."""
    logger.info("removing the corpus in %s built with another config (--force)", out)
    for name in OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _remove_partial_files(out: Path) -> None:
    """Delete temporary files that a killed build left (complete WAVs have their final name)."""
    for tmp in (out / "wav").glob("*/*/.*.tmp"):
        tmp.unlink()


def write_data_dirs(out: Path, plan: list[Utterance], durations: list[float]) -> None:
    """Write ``out/data/<lang>/<split>/`` for every (language, split) of ``plan``."""
    dirs: dict[tuple[str, str], DataDir] = {}
    for utt, duration in zip(plan, durations, strict=True):
        data = dirs.setdefault((utt.lang.code, utt.split), DataDir())
        data.wav_scp[utt.utt_id] = str(wav_path(out, utt))
        data.text[utt.utt_id] = utt.transcript
        data.utt2spk[utt.utt_id] = utt.speaker.id
        data.utt2lang[utt.utt_id] = utt.lang.code
        data.utt2dur[utt.utt_id] = round(duration, 3)
        data.utt2label[utt.utt_id] = utt.label
    for (lang, split), data in dirs.items():
        data.write(out / "data" / lang / split)


def build_corpus(
    config: CorpusConfig,
    out: str | Path,
    nj: int | None = None,
    force: bool = False,
    command: str = "",
    source: str | Path = "",
) -> Path:
    """Synthesise the corpus described by ``config`` into ``out``.

    Args:
        config: the corpus config.
        out: the output directory (made absolute: ``wav.scp`` holds absolute paths).
        nj: parallel synthesis jobs; default: the number of CPUs.
        force: rebuild a corpus that was built with another config (or write into a non-empty
            directory that holds none).
        command: the command line, recorded in the README.
        source: the config file, for error messages.

    Returns:
        ``out`` as an absolute path.

    Raises:
        ConfigError: an invalid config (see :func:`check_config`), a class with too few items.
        SpeechmlError: espeak-ng or one of its voices is missing, ``out`` holds another corpus.
    """
    out = Path(out).absolute()
    check_config(config, source)
    existing = _existing_corpus(config, out, force)
    if existing == "finished":
        logger.info("reusing the finished corpus in %s (same config, %s exists)", out, DONE_FILE)
        return out
    check_voices(
        {lang.code: lang.espeak for lang in config.languages},
        [v for split in SPLITS for v in getattr(config.variants, split)],
        str(source),
    )
    corpus_plan = plan_corpus(config, source)
    plan = corpus_plan.utterances
    if existing == "other":
        _remove_corpus(out)
    elif existing == "partial":
        logger.info("resuming the unfinished corpus in %s", out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / CONFIG_FILE)
    _remove_partial_files(out)
    jobs = [
        SynthJob(
            utt=utt.utt_id,
            wav=str(wav_path(out, utt)),
            text=utt.spoken,
            voice=utt.speaker.voice(utt.lang.espeak),
            speed=utt.speaker.speed,
            pitch=utt.speaker.pitch,
            sample_rate=config.sample_rate,
            noise_floor_db=config.noise_floor_db,
        )
        for utt in plan
    ]
    durations = synthesize_all(jobs, nj or os.cpu_count() or 1)
    write_data_dirs(out, plan, durations)
    readme = render_readme(
        config, plan, durations, command, espeak_version(), corpus_plan.item_counts
    )
    atomic_write_text(out / "README.md", readme)
    atomic_write_text(out / DONE_FILE, "")
    logger.info("corpus: %d utterances, %.2f hours in %s", len(plan), sum(durations) / 3600, out)
    return out
