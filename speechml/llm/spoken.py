"""The audio of spoken instructions: espeak-ng reads the instruction, then the utterance plays.

:func:`render_spoken` turns a mixture's ``spoken`` examples (:mod:`speechml.llm.mixture`) into a
Kaldi data dir of their own, which a person can listen to: each recording is the instruction
synthesised with the example's voice, a pause, and the utterance. Its ``text`` is the
instruction followed by the transcript; ``utt2lang`` and ``utt2label`` are the utterance's. The
examples come back pointing at that dir. Each instruction is synthesised once per voice
(``clips/``); files already there are kept, so an interrupted run resumes.

Example:
    >>> from speechml.llm.mixture import MixtureConfig, build_mixture
    >>> config = MixtureConfig(examples=6, task_weights={"asr": 1.0, "spoken": 1.0})
    >>> mixture = build_mixture(config, [DataDir.read("data/train")])
    >>> examples = render_spoken(mixture, "data/llm/train/spoken")
    >>> next(example.data_dir for example in examples if example.task == "spoken")
    'data/llm/train/spoken'
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from speechml.data.audio import audio_duration, load_audio, load_utterance, write_audio
from speechml.data.corpus.synth import SynthJob, add_noise_floor, synthesize_all
from speechml.data.datadir import DataDir
from speechml.llm.mixture import Example
from speechml.progress import progress_bar

#: The spoken examples' data dir inside a mixture's dir (``speechml llm mixture --out``).
SPOKEN_DIR = "spoken"
#: dBFS of the noise floor of the clips and the pause (the corpus's: no digital silence).
NOISE_FLOOR_DB = -90.0


def _clip_name(text: str, voice: str, speed: int) -> str:
    return f"{voice.replace('+', '_')}-{speed}-{zlib.crc32(text.encode()):08x}"


def render_spoken(
    examples: Sequence[Example],
    out: str | Path,
    speed: int = 165,
    sample_rate: int = 16000,
    pause: float = 0.3,
    nj: int = 1,
) -> list[Example]:
    """Write the spoken examples' audio as the data dir ``out``; the examples, re-pointed.

    Args:
        examples: a mixture; only its ``spoken`` examples change.
        out: the data dir to write (``clips/`` and ``audio/`` beneath it).
        speed: words per minute of espeak-ng.
        sample_rate: Hz of the written audio.
        pause: seconds between the instruction and the utterance.
        nj: espeak-ng jobs at once.

    Raises:
        AudioError: naming the utterance, if its audio cannot be read, or espeak-ng fails.
    """
    out = Path(out)
    spoken = [i for i, example in enumerate(examples) if example.task == "spoken"]
    if not spoken:
        return list(examples)
    clips: dict[tuple[str, str], Path] = {}
    for i in spoken:
        key = (examples[i].spoken_instruction, examples[i].voice)
        clips.setdefault(key, out / "clips" / f"{_clip_name(*key, speed)}.wav")
    jobs = [
        SynthJob(path.stem, str(path), text, voice, speed, 50, sample_rate, NOISE_FLOOR_DB)
        for (text, voice), path in clips.items()
    ]
    synthesize_all(jobs, nj)
    gap = add_noise_floor(np.zeros(int(pause * sample_rate), np.float32), NOISE_FLOOR_DB, "pause")
    sources: dict[str, DataDir] = {}
    data = DataDir()
    rendered = list(examples)
    for i in progress_bar(spoken, desc="spoken instructions", unit="utt"):
        example = examples[i]
        if example.data_dir not in sources:
            sources[example.data_dir] = DataDir.read(example.data_dir)
        source = sources[example.data_dir]
        utt = f"{example.utt}-spoken{i:05d}"
        clip = clips[example.spoken_instruction, example.voice]
        # named by what it holds, so that a rerun with other instructions writes afresh
        audio = out / "audio" / f"{utt}-{clip.stem}.flac"  # FLAC: lossless, half a WAV's size
        if not audio.is_file():
            said = load_audio(clip, sample_rate)
            speech = load_utterance(source, example.utt, sample_rate)
            write_audio(audio, np.concatenate([said, gap, speech]), sample_rate)
        data.wav_scp[utt] = str(audio.resolve())
        data.utt2dur[utt] = audio_duration(str(audio), utt)
        data.text[utt] = f"{example.spoken_instruction} {source.text.get(example.utt, '')}".strip()
        data.utt2spk[utt] = source.utt2spk.get(example.utt, utt)
        data.utt2lang[utt] = example.lang
        if example.utt in source.utt2label:
            data.utt2label[utt] = source.utt2label[example.utt]
        rendered[i] = dataclasses.replace(example, utt=utt, data_dir=str(out))
    data.write(out)
    return rendered
