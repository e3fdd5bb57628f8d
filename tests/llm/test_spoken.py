"""Spoken instructions: espeak-ng's instruction, a pause, the utterance, as a data dir."""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechml.data.datadir import DataDir
from speechml.data.validate import validate_data_dir
from speechml.data.waveform import WaveformDataset
from speechml.errors import DataError
from speechml.llm.data import InstructionDataset
from speechml.llm.mixture import MixtureConfig, build_mixture
from speechml.llm.spoken import render_spoken
from speechml.llm.tiny_lm import train_chat_tokenizer

sys.path.insert(0, str(Path(__file__).parent))
from llm_toys import write_tones  # noqa: E402

espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


class RawAudio:
    """The part of a speech encoder that InstructionDataset uses: its dataset."""

    def dataset(self, data: DataDir) -> WaveformDataset:
        return WaveformDataset(data, 16000)


@pytest.fixture(scope="module")
def tokenizer():
    return train_chat_tokenizer(["a high tone", "a low tone", "which language"] * 20, 300)


def spoken_mixture(data: DataDir) -> list:
    config = MixtureConfig({"asr": 1.0, "spoken": 2.0}, examples=12, spoken_variants=["m1", "f1"])
    return build_mixture(config, [data])


def test_unrendered_spoken_instructions_are_refused(tmp_path, tokenizer):
    data = DataDir.read(write_tones(tmp_path / "train", 3, 0))
    examples = spoken_mixture(data)
    first = next(e for e in examples if e.task == "spoken")
    with pytest.raises(DataError, match=f"{first.utt}.*render the mixture"):
        InstructionDataset(examples, RawAudio(), tokenizer)


@pytest.mark.espeak
@espeak
def test_rendered_audio_says_the_instruction_then_plays_the_utterance(tmp_path, tokenizer):
    data = DataDir.read(write_tones(tmp_path / "train", 3, 0))
    examples = spoken_mixture(data)
    rendered = render_spoken(examples, tmp_path / "spoken", nj=2)
    out = DataDir.read(tmp_path / "spoken")
    assert validate_data_dir(tmp_path / "spoken", check_audio=True) == []
    tasks = Counter(e.task for e in rendered)
    assert tasks["spoken"] > 4 and len(out) == tasks["spoken"]
    clips = sorted((tmp_path / "spoken" / "clips").glob("*.wav"))
    assert len(clips) == len({(e.spoken_instruction, e.voice) for e in examples if e.asks})
    for before, after in zip(examples, rendered, strict=True):
        if before.task != "spoken":
            assert after == before
            continue
        assert after.data_dir == str(tmp_path / "spoken") and after.utt.startswith(before.utt)
        assert (after.answer, after.asks, after.voice) == (before.answer, before.asks, before.voice)
        assert out.text[after.utt] == f"{before.spoken_instruction} {data.text[before.utt]}"
        assert out.utt2lang[after.utt] == "eng"
        assert out.utt2label[after.utt] == data.utt2label[before.utt]
        audio, rate = soundfile.read(out.wav_scp[after.utt], dtype="float32")
        speech, _ = soundfile.read(data.wav_scp[before.utt], dtype="float32")
        assert rate == 16000 and len(audio) > len(speech) + 0.3 * rate + 0.2 * rate
        np.testing.assert_array_equal(audio[-len(speech) :], speech)  # the utterance last
        assert out.utt2dur[after.utt] == pytest.approx(len(audio) / rate, abs=1e-3)
    dataset = InstructionDataset(rendered, RawAudio(), tokenizer)
    spoken = next(i for i, e in enumerate(rendered) if e.task == "spoken")
    assert len(dataset[spoken]["audio"]) == soundfile.info(out.wav_scp[rendered[spoken].utt]).frames

    def audio_files() -> dict[Path, int]:
        files = (tmp_path / "spoken").rglob("*")
        return {p: p.stat().st_mtime_ns for p in files if p.suffix in (".wav", ".flac")}

    before = audio_files()
    assert len(before) == len(out) + len(clips)
    assert render_spoken(examples, tmp_path / "spoken") == rendered  # a rerun keeps the audio
    assert audio_files() == before
    slower = render_spoken(examples, tmp_path / "spoken", speed=120)  # other audio: written anew
    assert len(audio_files()) == len(before) + len(out) + len(clips)
    assert slower == rendered and out.utt2dur != DataDir.read(tmp_path / "spoken").utt2dur
