"""Subsets, speaker splits and combination of data dirs."""

from __future__ import annotations

import logging

import pytest

from speechml.data.datadir import DataDir, Segment
from speechml.data.ops import (
    at_most,
    combine_data_dirs,
    first_utts,
    random_utts,
    split_by_speaker,
    split_into_parts,
    subset_data_dir,
    utts_from_list,
    utts_of_language,
    utts_per_language,
)
from speechml.errors import ConfigError, DataError


def _data(num_speakers: int = 6, utts_per_speaker: int = 5, languages=("eng", "kat")) -> DataDir:
    """Speaker k has ``utts_per_speaker + k`` utterances (unequal, to test balancing)."""
    data = DataDir()
    for k in range(num_speakers):
        speaker = f"s{k:02d}"
        for i in range(utts_per_speaker + k):
            utt = f"{speaker}-u{i:02d}"
            data.wav_scp[utt] = f"/audio/{utt}.wav"
            data.utt2spk[utt] = speaker
            data.text[utt] = f"words {i}"
            data.utt2lang[utt] = languages[k % len(languages)]
            data.utt2dur[utt] = 1.0 + i
    return data


def _speakers(data: DataDir) -> set[str]:
    return set(data.utt2spk.values())


def test_subset_keeps_every_table_and_only_needed_recordings():
    data = _data()
    data.segments = {u: Segment(f"rec-{data.utt2spk[u]}", 0.0, 1.0) for u in data.utt2spk}
    data.wav_scp = {f"rec-{s}": f"/audio/{s}.wav" for s in _speakers(data)}
    part = subset_data_dir(data, ["s01-u03", "s00-u00", "s00-u00"])
    assert part.utts == ["s00-u00", "s01-u03"]
    assert part.text == {"s00-u00": "words 0", "s01-u03": "words 3"}
    assert part.utt2lang == {"s00-u00": "eng", "s01-u03": "kat"}
    assert part.utt2dur == {"s00-u00": 1.0, "s01-u03": 4.0}
    assert part.wav_scp == {"rec-s00": "/audio/s00.wav", "rec-s01": "/audio/s01.wav"}
    assert set(part.segments) == {"s00-u00", "s01-u03"}


def test_subset_refuses_unknown_utterances():
    with pytest.raises(DataError, match="1 utterance.* not in the data dir: nope"):
        subset_data_dir(_data(), ["s00-u00", "nope"])


def test_first_and_random_choices():
    data = _data()
    assert first_utts(data, 3) == ["s00-u00", "s00-u01", "s00-u02"]
    chosen = random_utts(data, 10, seed=3)
    assert len(set(chosen)) == 10 and chosen == sorted(chosen)
    assert random_utts(data, 10, seed=3) == chosen
    assert random_utts(data, 10, seed=4) != chosen
    with pytest.raises(DataError, match="asked for 1000 utterances; the data dir has 45"):
        random_utts(data, 1000)
    with pytest.raises(ConfigError, match="must be positive"):
        first_utts(data, 0)
    assert at_most(data, 45) is data  # small enough: itself
    assert at_most(data, 10, seed=3).utts == chosen  # else a fixed random subset


def test_per_language_and_one_language(caplog):
    data = _data(languages=("eng", "kat", "swh"))  # 5 + 8, 6 + 9 and 7 + 10 utterances
    chosen = utts_per_language(data, 8, seed=1)
    counts = {lang: sum(data.utt2lang[u] == lang for u in chosen) for lang in data.languages()}
    assert counts == {"eng": 8, "kat": 8, "swh": 8}
    assert utts_per_language(data, 8, seed=1) == chosen
    with caplog.at_level(logging.WARNING):
        assert len(utts_per_language(data, 14, seed=1)) == 13 + 14 + 14
    assert "language eng has 13 utterances (< 14): all kept" in caplog.text
    assert "kat" not in caplog.text
    swahili = [u for u in data.utts if data.utt2spk[u] in {"s02", "s05"}]
    assert utts_of_language(data, "swh") == swahili
    with pytest.raises(DataError, match=r"no utterance in German \(deu\); languages present: eng"):
        utts_of_language(data, "deu")
    with pytest.raises(DataError, match="did you mean 'kat'"):
        utts_of_language(data, "ka")
    data.utt2lang = {}
    with pytest.raises(DataError, match="has no utt2lang"):
        utts_per_language(data, 1)


def test_utterance_list_file(tmp_path):
    data = _data()
    (tmp_path / "list").write_text("s01-u00\ns00-u02 extra fields are ignored\n")
    assert utts_from_list(data, tmp_path / "list") == ["s01-u00", "s00-u02"]
    (tmp_path / "list").write_text("s01-u00\n\ns09-u00\n")
    with pytest.raises(DataError) as err:
        utts_from_list(data, tmp_path / "list")
    assert str(err.value) == (
        f"{tmp_path / 'list'}:3: utterance s09-u00: not an utterance of the data dir"
    )


def test_split_by_speaker_shares_no_speaker_and_follows_the_fractions():
    data = _data(num_speakers=20, utts_per_speaker=10)  # 390 utterances
    parts = split_by_speaker(data, {"train": 0.8, "dev": 0.1, "test": 0.1}, seed=7)
    assert list(parts) == ["train", "dev", "test"]
    speakers = [_speakers(part) for part in parts.values()]
    assert not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])
    assert sorted(u for part in parts.values() for u in part.utts) == data.utts
    assert abs(len(parts["train"]) - 0.8 * len(data)) < 30
    assert abs(len(parts["dev"]) - 0.1 * len(data)) < 30
    again = split_by_speaker(data, {"train": 0.8, "dev": 0.1, "test": 0.1}, seed=7)
    assert {n: p.utts for n, p in again.items()} == {n: p.utts for n, p in parts.items()}
    other = split_by_speaker(data, {"train": 0.8, "dev": 0.1, "test": 0.1}, seed=8)
    assert {n: p.utts for n, p in other.items()} != {n: p.utts for n, p in parts.items()}


@pytest.mark.parametrize(
    "fractions", [{"a": 0.5, "b": 0.6}, {"a": 1.0, "b": 0.0}, {"a": -0.5, "b": 1.5}, {}]
)
def test_split_by_speaker_refuses_bad_fractions(fractions):
    with pytest.raises(ConfigError):
        split_by_speaker(_data(), fractions)


def test_splits_need_enough_speakers():
    with pytest.raises(DataError, match=r"cannot split 2 speaker\(s\) into 3 parts"):
        split_by_speaker(_data(num_speakers=2), {"a": 0.4, "b": 0.3, "c": 0.3})
    with pytest.raises(DataError, match=r"cannot split 6 speaker\(s\) into 7 parts"):
        split_into_parts(_data(), 7)
    with pytest.raises(ConfigError):
        split_into_parts(_data(), 0)


def test_split_into_parts_is_contiguous_balanced_and_complete():
    data = _data(num_speakers=12, utts_per_speaker=3)  # 3..14 utterances a speaker: 102
    parts = split_into_parts(data, 4)
    assert [u for part in parts for u in part.utts] == data.utts  # consecutive speakers
    assert all(abs(len(part) - len(data) / 4) <= 14 for part in parts)
    assert len({s for part in parts for s in _speakers(part)}) == 12
    assert sum(len(_speakers(part)) for part in parts) == 12
    assert [len(p) for p in split_into_parts(data, 12)] == list(range(3, 15))
    assert split_into_parts(data, 1)[0].utts == data.utts


def test_combine_merges_and_accepts_identical_repeats():
    data = _data()
    first = subset_data_dir(data, data.utts[:20])
    second = subset_data_dir(data, data.utts[10:])
    combined = combine_data_dirs([first, second])
    for name in ("wav_scp", "text", "utt2spk", "utt2lang", "utt2dur"):
        assert getattr(combined, name) == getattr(data, name)


def test_combine_names_both_dirs_on_a_clash(tmp_path):
    data = _data()
    first = subset_data_dir(data, data.utts[:5])
    second = subset_data_dir(data, data.utts[3:8])
    second.text["s00-u04"] = "other words"
    first.path, second.path = tmp_path / "a", tmp_path / "b"
    with pytest.raises(DataError) as err:
        combine_data_dirs([first, second])
    assert str(err.value) == (
        f"id 's00-u04' has different text in {tmp_path / 'a'} ('words 4') and in "
        f"{tmp_path / 'b'} ('other words')"
    )


def test_combine_leaves_out_a_table_that_some_dirs_lack(caplog):
    data = _data()
    first, second = subset_data_dir(data, data.utts[:5]), subset_data_dir(data, data.utts[5:])
    second.utt2dur = {}
    with caplog.at_level(logging.WARNING):
        combined = combine_data_dirs([first, second])
    assert combined.utt2dur == {} and len(combined) == len(data)
    assert "utt2dur left out: not in data dir #2" in caplog.text


def test_combine_refuses_mixed_segments_and_nothing():
    data = _data()
    first, second = subset_data_dir(data, data.utts[:5]), subset_data_dir(data, data.utts[5:])
    first.segments = {u: Segment(u, 0.0, 1.0) for u in first.utts}
    with pytest.raises(DataError, match=r"with and without segments \(none in data dir #2\)"):
        combine_data_dirs([first, second])
    with pytest.raises(ConfigError):
        combine_data_dirs([])


def _with_other_tables() -> DataDir:
    data = _data(num_speakers=3, utts_per_speaker=2)
    data.other_tables = {
        "spk2gender": {"s00": "f", "s01": "m", "s02": "f"},
        "utt2uniq": {utt: f"orig-{utt}" for utt in data.utt2spk},
        "reco2file_and_channel": {utt: f"{utt} A" for utt in data.wav_scp},
    }
    return data


def test_subset_keeps_other_tables_restricted_to_what_is_kept():
    data = _with_other_tables()
    part = subset_data_dir(data, ["s01-u00", "s02-u01"])
    assert part.other_tables == {
        "spk2gender": {"s01": "m", "s02": "f"},
        "utt2uniq": {"s01-u00": "orig-s01-u00", "s02-u01": "orig-s02-u01"},
        "reco2file_and_channel": {"s01-u00": "s01-u00 A", "s02-u01": "s02-u01 A"},
    }
    parts = split_by_speaker(data, {"a": 0.5, "b": 0.5}, seed=0)
    genders = [part.other_tables["spk2gender"] for part in parts.values()]
    assert genders[0] | genders[1] == data.other_tables["spk2gender"]
    assert not set(genders[0]) & set(genders[1])


def test_combine_merges_other_tables_and_names_a_clash(caplog):
    data = _with_other_tables()
    first, second = subset_data_dir(data, data.utts[:3]), subset_data_dir(data, data.utts[2:])
    combined = combine_data_dirs([first, second])
    assert combined.other_tables == data.other_tables
    second.other_tables["spk2gender"]["s01"] = "f"
    with pytest.raises(
        DataError, match=r"id 's01' has different spk2gender in data dir #1 \('m'\)"
    ):
        combine_data_dirs([first, second])
    del second.other_tables["spk2gender"]
    with caplog.at_level(logging.WARNING):
        combined = combine_data_dirs([first, second])
    assert "spk2gender" not in combined.other_tables and "utt2uniq" in combined.other_tables
    assert "spk2gender left out: not in data dir #2" in caplog.text


def test_files_that_are_not_tables_are_named_when_a_subset_is_written(tmp_path, caplog):
    data = _with_other_tables()
    data.write(tmp_path / "all")
    (tmp_path / "all" / "README").write_text("notes\n")
    (tmp_path / "all" / "prompts.lst").write_text("a\n")
    data = DataDir.read(tmp_path / "all")
    with caplog.at_level(logging.WARNING):
        subset_data_dir(data, data.utts[:2]).write(tmp_path / "sub")
        combine_data_dirs([data, data]).write(tmp_path / "both")
    assert caplog.messages == [
        f"{tmp_path / 'all'}: not carried into {tmp_path / target} (not a data-dir table): "
        "README, prompts.lst"
        for target in ("sub", "both")
    ]
    assert DataDir.read(tmp_path / "sub").other_tables["spk2gender"] == {"s00": "f"}
