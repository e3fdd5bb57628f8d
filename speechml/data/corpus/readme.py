"""The ``README.md`` of a built corpus: how it was made and what it holds.

Example:
    >>> text = render_readme(config, plan, durations, "speechml corpus build ...", "1.51", {})
    ... # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import babel

from speechml.data.corpus.config import SPLITS, CorpusConfig
from speechml.data.corpus.plan import Utterance
from speechml.data.corpus.speakers import split_speakers
from speechml.lang.languages import language_name
from speechml.markdown import markdown_table


def render_readme(
    config: CorpusConfig,
    plan: Sequence[Utterance],
    durations: Sequence[float],
    command: str,
    espeak_version: str,
    item_counts: dict[str, dict[str, int]],
) -> str:
    """The README text (Markdown).

    Args:
        config: the resolved config.
        plan: every utterance, as built.
        durations: seconds of each utterance of ``plan``, in the same order.
        command: the command that built the corpus.
        espeak_version: e.g. ``"1.51"``.
        item_counts: language code -> class -> number of usable items.
    """
    counts: dict[tuple[str, str], int] = defaultdict(int)
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for utt, duration in zip(plan, durations, strict=True):
        for lang in (utt.lang.code, "**all**"):
            counts[lang, utt.split] += 1
            seconds[lang, utt.split] += duration
    size_rows = [
        [lang]
        + [cell for s in SPLITS for cell in (counts[lang, s], f"{seconds[lang, s] / 3600:.2f}")]
        for lang in [lang.code for lang in config.languages] + ["**all**"]
    ]
    size_header = ["language"] + [f"{s} {unit}" for s in SPLITS for unit in ("utts", "hours")]
    lang_rows = [
        (lang.code, language_name(lang.code), lang.script, lang.locale, lang.espeak)
        for lang in config.languages
    ]
    class_rows = [
        (lang.code, *(item_counts.get(lang.code, {}).get(c, "") for c in config.classes))
        for lang in config.languages
    ]
    speakers = split_speakers(config, config.languages[0].code)  # as many in every language
    speaker_rows = [
        (split, " ".join(getattr(config.variants, split)), len(speakers[split])) for split in SPLITS
    ]
    drawn, grid = config.train_speakers, config.eval_speakers
    (speed_low, speed_high), (pitch_low, pitch_high) = drawn.speed_range, drawn.pitch_range
    low, high = config.items_per_utt
    return f"""# Synthetic multilingual speech corpus

Synthesised with espeak-ng {espeak_version} by speechml from the CLDR data that babel
{babel.__version__} ships (no download). Same config and seed, same espeak-ng and babel: same
corpus. Built with:

    {command}

The resolved config is `corpus.yaml`; `.done` marks a finished build.

## Layout
- `data/<lang>/<split>/`: Kaldi data dirs (`wav.scp`, `text`, `utt2spk`, `spk2utt`, `utt2lang`,
  `utt2dur`, `utt2label`).
- `wav/<lang>/<split>/<utt>.wav`: 16-bit mono WAV at {config.sample_rate} Hz
  (noise floor: {config.noise_floor_db} dBFS).

## Languages
{markdown_table(["code", "name", "script", "CLDR locale", "espeak-ng voice"], lang_rows)}

## Texts and labels
Each utterance names {low} to {high} items of one class, joined by the locale's list pattern
(espeak-ng reads the punctuated form). The class is the utterance's label (`utt2label`), the
same set in every language; classes take turns, so labels are balanced. Only items written
entirely in the language's script (letters, marks, spaces, hyphens; no digits, other
punctuation or acronyms) are used. Transcripts are NFC, lowercase, without punctuation.
Texts may repeat across splits: the splits differ by voice.

Usable items per class:

{markdown_table(["language", *config.classes], class_rows)}

## Speakers
A speaker is an espeak-ng voice variant at one speed (words per minute) and one pitch (0-99);
ids look like `kat-m3-s160-p45`. Each training variant gives {drawn.per_variant} speakers a
language, each with its own speed ({speed_low}-{speed_high}) and pitch ({pitch_low}-{pitch_high}),
integers drawn uniformly (seeded by the seed, the language and the variant). A dev or test
speaker is a variant at one of the speeds {grid.speeds} and one of the pitches {grid.pitches}.
Splits have disjoint variants: dev and test voices are never heard in training. Speakers a language:

{markdown_table(["split", "variants", "speakers"], speaker_rows)}

## Size
{markdown_table(size_header, size_rows)}
"""
