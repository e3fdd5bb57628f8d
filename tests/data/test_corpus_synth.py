"""synthesize_all: a failed espeak-ng call stops the build without waiting for the rest."""

import threading
import time

import numpy as np
import pytest

from speechml.data.corpus import synth
from speechml.errors import AudioError


def test_the_first_failure_cancels_the_jobs_not_started(monkeypatch, tmp_path):
    started: list[str] = []
    lock = threading.Lock()

    def synthesize_to_wav(job: synth.SynthJob) -> float:
        with lock:
            started.append(job.utt)
        if job.utt == "u001":
            raise AudioError("espeak-ng failed (1): no voice", "espeak-ng -v qq", utt=job.utt)
        time.sleep(1.0 if job.utt == "u000" else 0.05)
        return 1.0

    monkeypatch.setattr(synth, "synthesize_to_wav", synthesize_to_wav)
    jobs = [
        synth.SynthJob(f"u{i:03d}", str(tmp_path / f"u{i:03d}.wav"), "a", "en", 160, 50, 16000)
        for i in range(100)
    ]
    with pytest.raises(AudioError, match="utterance u001: espeak-ng failed"):
        synth.synthesize_all(jobs, nj=2)
    # The failure is seen when it happens, not when the slow first job is done: waiting for
    # u000 (1 s), the other thread would start about 20 more jobs.
    assert len(started) < 10


def test_durations_come_back_in_job_order(monkeypatch, tmp_path):
    def synthesize_to_wav(job: synth.SynthJob) -> float:
        time.sleep(0.01 * (job.speed % 3))  # finish out of order
        return float(job.speed)

    monkeypatch.setattr(synth, "synthesize_to_wav", synthesize_to_wav)
    jobs = [
        synth.SynthJob(f"u{i}", str(tmp_path / "x.wav"), "a", "en", i, 50, 16000) for i in range(9)
    ]
    assert synth.synthesize_all(jobs, nj=3) == [float(i) for i in range(9)]


def test_noise_floor_has_its_level_and_is_the_same_for_the_same_utterance():
    silence = np.zeros(16000, np.float32)
    first = synth.add_noise_floor(silence, -60.0, "utt-1")
    assert 20 * np.log10(np.sqrt(np.mean(first.astype(np.float64) ** 2))) == pytest.approx(
        -60, abs=0.2
    )
    assert np.array_equal(first, synth.add_noise_floor(silence, -60.0, "utt-1"))
    assert not np.array_equal(first, synth.add_noise_floor(silence, -60.0, "utt-2"))
