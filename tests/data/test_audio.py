"""The bad-input suite of audio loading: every input a user may have becomes 16 kHz mono float32,
or a clear error naming the file and the utterance."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from speechml.data.audio import (
    audio_duration,
    audio_info,
    is_pipe,
    load_audio,
    load_utterance,
    wav_truncation,
    write_audio,
)
from speechml.data.datadir import DataDir, Segment
from speechml.errors import AudioError


def _peak_frequency(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum)) * sample_rate / len(samples)


@pytest.mark.parametrize(
    ("sample_rate", "channels", "suffix"),
    [(16000, 1, "wav"), (8000, 1, "wav"), (48000, 1, "wav"), (44100, 2, "wav"), (16000, 1, "flac")],
)
def test_any_rate_channels_and_format_load_as_16k_mono(
    tmp_path, sine_wave, sample_rate, channels, suffix
):
    path = tmp_path / f"clip.{suffix}"
    soundfile.write(path, sine_wave(440.0, 0.5, sample_rate, channels), sample_rate)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 8000) <= 1  # 0.5 s at 16 kHz
    assert _peak_frequency(samples, 16000) == pytest.approx(440.0, abs=4.0)
    assert np.abs(samples).max() == pytest.approx(0.5, abs=0.02)
    assert audio_duration(str(path)) == pytest.approx(0.5, abs=1e-3)


def test_stereo_channels_are_averaged(tmp_path, sine_wave):
    left = sine_wave(300.0, 0.25)
    soundfile.write(tmp_path / "s.wav", np.stack([left, np.zeros_like(left)], axis=1), 16000)
    samples = load_audio(tmp_path / "s.wav")
    np.testing.assert_allclose(samples, left / 2, atol=1e-4)


def test_keeping_the_native_rate(tmp_path, sine_wave):
    write_audio(tmp_path / "a.wav", sine_wave(440.0, 0.5, 8000), 8000)
    assert len(load_audio(tmp_path / "a.wav", sample_rate=None)) == 4000


def test_missing_file_names_file_and_utterance(tmp_path):
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path / "nope.wav", utt="u1")
    assert str(err.value) == f"{tmp_path / 'nope.wav'}: utterance u1: audio file not found"
    with pytest.raises(AudioError, match="audio file not found"):
        audio_duration(str(tmp_path / "nope.wav"), utt="u1")


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    for call in (lambda: load_audio(path, utt="u2"), lambda: audio_duration(str(path), "u2")):
        with pytest.raises(AudioError, match="cannot read audio") as err:
            call()
        assert err.value.utt == "u2" and err.value.path == str(path)


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"audio is empty \(0 samples\)"):
        load_audio(path, utt="u3")
    with pytest.raises(AudioError, match=r"utterance u3: audio is empty"):
        audio_duration(str(path), utt="u3")


def test_pipe_is_refused_unless_allowed(tmp_path, sine_wave):
    write_audio(tmp_path / "a.wav", sine_wave(440.0, 0.5, 8000), 8000)
    entry = f"cat {tmp_path / 'a.wav'} |"
    assert is_pipe(entry) and not is_pipe(str(tmp_path / "a.wav"))
    with pytest.raises(AudioError, match="shell pipe; data must not run commands") as err:
        load_audio(entry, utt="u4")
    assert "--allow-pipes" in str(err.value) and err.value.utt == "u4"
    samples = load_audio(entry, allow_pipe=True)
    assert len(samples) == 8000
    assert _peak_frequency(samples, 16000) == pytest.approx(440.0, abs=4.0)
    assert audio_duration(entry, allow_pipe=True) == pytest.approx(0.5, abs=1e-3)


def test_failing_pipe_reports_the_command_error():
    with pytest.raises(AudioError, match=r"pipe command failed \(1\)"):
        load_audio("cat /no/such/file.wav |", allow_pipe=True, utt="u5")


def test_segments_cut_the_recording(tmp_path, sine_wave):
    write_audio(tmp_path / "rec.wav", sine_wave(440.0, 2.0, 48000), 48000)
    data = DataDir(
        wav_scp={"rec": str(tmp_path / "rec.wav")},
        utt2spk={"a": "s", "b": "s"},
        segments={"a": Segment("rec", 0.0, 0.5), "b": Segment("rec", 1.0, 1.75)},
    )
    assert len(load_utterance(data, "a")) == 8000
    assert len(load_utterance(data, "b")) == 12000
    assert len(load_utterance(data, "b", sample_rate=8000)) == 6000


def test_zero_byte_and_text_files_say_what_they_hold(tmp_path):
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    with pytest.raises(AudioError) as err:
        audio_duration(str(zero), utt="u6")
    assert str(err.value) == f"{zero}: utterance u6: audio file is empty (0 bytes)"
    text = tmp_path / "text.wav"
    text.write_text("<html><body>404 Not Found</body></html>\n")
    with pytest.raises(AudioError, match=r"the file holds text, not audio: '<html><body>404"):
        load_audio(text, utt="u7")
    pointer = tmp_path / "pointer.wav"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 3\n")
    with pytest.raises(AudioError, match=r"holds text, .*\(a Git LFS pointer: run git lfs pull\)"):
        audio_duration(str(pointer))


def test_wav_truncation_compares_the_header_with_the_data_present(tmp_path, sine_wave):
    full = tmp_path / "full.wav"
    write_audio(full, sine_wave(440.0, 1.0), 16000)
    assert wav_truncation(full) is None
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 2 * 16000 // 3])  # a third of the samples
    declared, present = wav_truncation(cut)
    assert declared == pytest.approx(1.0) and present == pytest.approx(1 / 3, abs=1e-3)
    assert audio_duration(str(cut)) == pytest.approx(present, abs=1e-3)  # libsndfile says nothing
    open_size = bytearray(cut.read_bytes())
    open_size[40:44] = b"\xff\xff\xff\xff"  # a streaming writer's "size unknown"
    cut.write_bytes(bytes(open_size))
    assert wav_truncation(cut) is None
    write_audio(tmp_path / "a.flac", sine_wave(440.0, 1.0), 16000)
    assert wav_truncation(tmp_path / "a.flac") is None


def test_audio_info_reads_the_header_and_refuses_what_holds_no_samples(tmp_path, sine_wave):
    soundfile.write(tmp_path / "stereo.flac", sine_wave(440.0, 0.25, 22050, 2), 22050)
    info = audio_info(tmp_path / "stereo.flac")
    assert (info.samplerate, info.frames, info.channels) == (22050, 5512, 2)
    with pytest.raises(AudioError, match=r"missing.wav: utterance u1: audio file not found"):
        audio_info(tmp_path / "missing.wav", utt="u1")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="audio is empty"):
        audio_info(tmp_path / "empty.wav")
