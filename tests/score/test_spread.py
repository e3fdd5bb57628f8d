"""The spread of WER over speakers and voices: the voice rule, grouping, median and worst."""

from __future__ import annotations

import json
import operator
from pathlib import Path

from speechml.data.corpus.speakers import Speaker
from speechml.data.datadir import DataDir
from speechml.score.spread import group_by_voice, spread, voice_of_speaker
from speechml.score.trn import write_trn
from speechml.score.wer import score_decode_dir


def test_the_voice_is_the_variant_of_a_corpus_speaker_id() -> None:
    assert voice_of_speaker(Speaker("kat", "m3", 160, 45).id) == "m3"
    assert voice_of_speaker(Speaker("eng", "klatt_2", 80, 5).id) == "klatt_2"
    for other in ("spk1", "kat-m3", "kat-m3-s160", "kat-m3-fast-p45", "a b-m3-s1-p2"):
        assert voice_of_speaker(other) is None


def test_speakers_group_by_voice_only_when_every_id_names_one() -> None:
    per_spk = {"eng-m3-s120-p50": 1, "kat-m3-s160-p45": 2, "kat-f2-s160-p45": 4}
    assert group_by_voice(per_spk, operator.add) == {"f2": 4, "m3": 3}
    assert group_by_voice({**per_spk, "spk9": 8}, operator.add) == {}
    assert group_by_voice({}, operator.add) == {}


def test_spread_ranks_the_worst_and_leaves_out_groups_without_words() -> None:
    found = spread("speaker", {"a": 10.0, "b": 90.0, "c": 50.0, "d": 70.0, "e": 90.0, "f": None})
    assert found.num_groups == 5 and found.num_unrated == 1
    assert found.median == 70.0  # each speaker counts once, whatever its word count
    assert found.worst == [("b", 90.0), ("e", 90.0), ("d", 70.0)]  # ties by id
    assert found.line() == (
        "# per speaker (5, 1 N/A): median WER 70.00; worst: b 90.00, e 90.00, d 70.00"
    )
    assert spread("voice", {"m3": 50.0, "f1": None}) is None  # one rated group: nothing to show


def test_a_failing_voice_shows_in_the_wer_file_and_score_json(tmp_path: Path) -> None:
    # Voice m3 (two speakers, two languages) is always wrong; f2 always right.
    speakers = {
        "u1": "eng-f2-s120-p50",
        "u2": "eng-m3-s120-p50",
        "u3": "kat-f2-s160-p45",
        "u4": "kat-m3-s160-p45",
    }
    utts = {f"{spk}-{utt}": spk for utt, spk in speakers.items()}
    DataDir(
        wav_scp={u: f"/a/{u}.wav" for u in utts},
        utt2spk=utts,
        text=dict.fromkeys(utts, "one two"),
        utt2lang={u: u[:3] for u in utts},
    ).write(tmp_path / "data")
    decode = tmp_path / "decode_test"
    write_trn(decode / "hyp.trn", {u: "one two" if "-f2-" in u else "won" for u in utts})
    report = score_decode_dir(tmp_path / "data", decode)
    assert list(report.per_voice) == ["f2", "m3"]
    assert sum(report.per_voice.values(), type(report.total)()) == report.total
    lines = (decode / "wer").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"%WER 50.00 [ 4 / 8, 0 ins, 2 del, 2 sub ] {decode}"
    assert lines[2] == (
        "# per speaker (4): median WER 50.00; "
        "worst: eng-m3-s120-p50 100.00, kat-m3-s160-p45 100.00, eng-f2-s120-p50 0.00"
    )
    assert lines[3] == "# per voice (2): median WER 50.00; worst: m3 100.00, f2 0.00"
    per_voice = (decode / "wer_per_voice").read_text(encoding="utf-8").splitlines()
    assert per_voice[0] == f"%WER 0.00 [ 0 / 4, 0 ins, 0 del, 0 sub ] {decode} voice=f2"
    assert per_voice[2] == f"%WER 100.00 [ 4 / 4, 0 ins, 2 del, 2 sub ] {decode} voice=m3"
    record = json.loads((decode / "score.json").read_text(encoding="utf-8"))
    assert record["per_voice"]["m3"]["wer"]["rate"] == 100.0
    assert record["spread"]["voice"] == {
        "num_groups": 2,
        "num_unrated": 0,
        "median": 50.0,
        "worst": [{"id": "m3", "rate": 100.0}, {"id": "f2", "rate": 0.0}],
    }
