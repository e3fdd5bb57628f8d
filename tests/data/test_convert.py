"""Converters: data dir <-> Hugging Face dataset on disk, Common Voice release -> data dirs."""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile

from speechml.data.audio import load_audio, load_utterance, write_audio
from speechml.data.conversion import RENAMED_FILE, SKIPPED_FILE
from speechml.data.convert import (
    check_locale,
    commonvoice_speaker,
    commonvoice_to_datadir,
    datadir_to_hf,
    hf_to_datadir,
)
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError, DataError

RATE = 16000


def tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def flac_bytes(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="FLAC")
    return buffer.getvalue()


def _precious_dir(root: Path) -> Path:
    """A directory of the user's that no conversion may replace."""
    (root / "precious").mkdir()
    (root / "precious" / "notes.txt").write_text("keep me")
    return root / "precious"


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    """Three utterances of two speakers, every table filled, audio on disk."""
    utts = {"spkA-u1": ("spkA", 0.5), "spkA-u2": ("spkA", 0.25), "spkB-u1": ("spkB", 0.75)}
    data = DataDir()
    for utt, (speaker, seconds) in utts.items():
        wav = tmp_path / "audio" / f"{utt}.wav"
        write_audio(wav, tone(seconds), RATE)
        data.wav_scp[utt] = str(wav)
        data.utt2spk[utt] = speaker
        data.utt2dur[utt] = seconds
    data.text = {"spkA-u1": "hello world", "spkA-u2": "გამარჯობა", "spkB-u1": "good night"}
    data.utt2lang = {"spkA-u1": "eng", "spkA-u2": "kat", "spkB-u1": "eng"}
    data.utt2label = {"spkA-u1": "greet", "spkA-u2": "greet", "spkB-u1": "bye"}
    data.write(tmp_path / "data")
    return DataDir.read(tmp_path / "data")


def test_round_trip_keeps_tables_and_audio(data_dir: DataDir, tmp_path: Path) -> None:
    dataset = datadir_to_hf(data_dir, tmp_path / "hf")
    assert dataset.column_names == [
        "id",
        "audio",
        "speaker",
        "text",
        "language",
        "duration",
        "label",
    ]
    assert dataset[0]["audio"] == data_dir.wav_scp["spkA-u1"]

    (report,) = hf_to_datadir(tmp_path / "hf", tmp_path / "back")
    assert report.utterances == 3 and report.skipped == []
    back = DataDir.read(tmp_path / "back")
    for table in ("wav_scp", "text", "utt2spk", "utt2lang", "utt2dur", "utt2label"):
        assert getattr(back, table) == getattr(data_dir, table), table
    assert back.spk2utt() == data_dir.spk2utt()
    assert len(load_utterance(back, "spkB-u1")) == int(0.75 * RATE)
    assert not (tmp_path / "back" / SKIPPED_FILE).exists()


def test_to_hf_omits_absent_tables_and_refuses_pipes_and_segments(
    data_dir: DataDir, tmp_path: Path
) -> None:
    data_dir.utt2label = {}
    data_dir.utt2dur = {}
    assert "label" not in datadir_to_hf(data_dir, tmp_path / "hf").column_names
    data_dir.wav_scp["spkA-u1"] = "sox a.wav -t wav - |"
    with pytest.raises(DataError, match="utterance spkA-u1: .*pipe"):
        datadir_to_hf(data_dir, tmp_path / "hf2")


def test_to_hf_replaces_a_dataset_but_not_other_directories(
    data_dir: DataDir, tmp_path: Path
) -> None:
    datadir_to_hf(data_dir, tmp_path / "hf")
    data_dir.utt2label = {}
    datadir_to_hf(data_dir, tmp_path / "hf")
    assert "label" not in datasets.load_from_disk(str(tmp_path / "hf")).column_names
    precious = _precious_dir(tmp_path)
    with pytest.raises(DataError, match="not a saved dataset"):
        datadir_to_hf(data_dir, precious)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_to_hf_output_is_readable_by_others_under_the_umask(
    data_dir: DataDir, tmp_path: Path
) -> None:
    old_umask = os.umask(0o022)
    try:
        datadir_to_hf(data_dir, tmp_path / "hf")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "hf").stat().st_mode) == 0o755
    files = [p for p in (tmp_path / "hf").iterdir()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in files)


def test_audio_bytes_are_written_to_wav_files(tmp_path: Path) -> None:
    samples = tone(0.5, 300.0)
    dataset = datasets.Dataset.from_dict(
        {
            "id": ["clip one"],
            "audio": [{"path": "one.flac", "bytes": flac_bytes(samples)}],
            "sentence": ["  some\ntext "],
        }
    ).cast_column("audio", datasets.Audio())  # decoding would need torchcodec: never done

    hf_to_datadir(dataset, tmp_path / "out", text_column="sentence", lang="eng")

    data = DataDir.read(tmp_path / "out")
    assert data.utts == ["clip_one"]  # a Kaldi id: no whitespace
    assert data.text == {"clip_one": "some text"}
    assert data.utt2spk == {"clip_one": "clip_one"}
    assert data.utt2lang == {"clip_one": "eng"}
    wav = Path(data.wav_scp["clip_one"])
    assert wav == (tmp_path / "out" / "wav" / "clip_one.wav").absolute()
    np.testing.assert_allclose(load_audio(wav), samples, atol=1e-3)


def test_dataset_dict_gives_one_data_dir_per_split(data_dir: DataDir, tmp_path: Path) -> None:
    rows = datadir_to_hf(data_dir, tmp_path / "hf")
    splits = datasets.DatasetDict({"train": rows.select([0, 1]), "test": rows.select([2])})
    splits.save_to_disk(str(tmp_path / "hf_dict"))

    reports = hf_to_datadir(tmp_path / "hf_dict", tmp_path / "out")

    assert sorted((r.split, r.utterances) for r in reports) == [("test", 1), ("train", 2)]
    assert DataDir.read(tmp_path / "out" / "train").utts == ["spkA-u1", "spkA-u2"]
    assert DataDir.read(tmp_path / "out" / "test").utts == ["spkB-u1"]

    hf_to_datadir(tmp_path / "hf_dict", tmp_path / "only", split="test")
    assert DataDir.read(tmp_path / "only").utts == ["spkB-u1"]
    with pytest.raises(ConfigError, match="no split 'dev'.*train"):
        hf_to_datadir(tmp_path / "hf_dict", tmp_path / "x", split="dev")


def test_generated_ids_and_speaker_prefix(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    write_audio(wav, tone(0.1), RATE)
    dataset = datasets.DatasetDict(
        {"dev": datasets.Dataset.from_dict({"audio": ["a.wav"], "text": ["x"], "speaker": ["s 9"]})}
    )
    hf_to_datadir(dataset, tmp_path / "out", audio_root=tmp_path)
    assert DataDir.read(tmp_path / "out" / "dev").utt2spk == {"s_9-dev-000000": "s_9"}

    hf_to_datadir(dataset, tmp_path / "plain", audio_root=tmp_path, speaker_prefix=False)
    assert DataDir.read(tmp_path / "plain" / "dev").utt2spk == {"dev-000000": "s_9"}


def test_speaker_prefix_needs_the_separator(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", tone(0.1), RATE)
    rows = {"id": ["s1-a", "s10-b", "s1"], "speaker": ["s1", "s1", "s1"]}
    rows |= {"audio": ["a.wav"] * 3, "text": ["x"] * 3}
    hf_to_datadir(datasets.Dataset.from_dict(rows), tmp_path / "out", audio_root=tmp_path)
    # "s10-b" starts with "s1" but is not of speaker s1: it gets the prefix.
    assert DataDir.read(tmp_path / "out").utts == ["s1", "s1-a", "s1-s10-b"]


def test_bad_rows_are_skipped_and_reported(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    write_audio(good, tone(0.1), RATE)
    dataset = datasets.Dataset.from_dict(
        {
            "id": ["ok", "no-text", "no-file", "no-audio", "bad-bytes"],
            "audio": [
                {"path": str(good), "bytes": None},
                {"path": str(good), "bytes": None},
                {"path": str(tmp_path / "gone.wav"), "bytes": None},
                None,
                {"path": None, "bytes": b"not audio at all"},
            ],
            "text": ["fine", " ", "a", "b", "c"],
        }
    )

    (report,) = hf_to_datadir(dataset, tmp_path / "out")

    assert DataDir.read(tmp_path / "out").utts == ["ok"]
    assert [(s.row, s.id) for s in report.skipped] == [
        (1, "no-text"),
        (2, "no-file"),
        (3, "no-audio"),
        (4, "bad-bytes"),
    ]
    lines = (tmp_path / "out" / SKIPPED_FILE).read_text().splitlines()
    assert lines[0] == "row 1 (id 'no-text'): empty text"
    assert "audio file not found" in lines[1] and "gone.wav" in lines[1]
    assert lines[2].endswith("no audio")
    assert "not readable audio" in lines[3]


def test_no_usable_row_is_an_error(tmp_path: Path) -> None:
    dataset = datasets.Dataset.from_dict({"audio": [None], "text": ["a"]})
    with pytest.raises(DataError, match="no usable row.*no audio"):
        hf_to_datadir(dataset, tmp_path / "out")


def test_columns_language_codes_and_duplicates_are_checked(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    write_audio(wav, tone(0.1), RATE)
    dataset = datasets.Dataset.from_dict(
        {"id": ["u1", "u2"], "audio": [str(wav)] * 2, "text": ["a", "b"], "language": ["en"] * 2}
    )
    with pytest.raises(ConfigError, match="no text column 'transcription'.*id, audio"):
        hf_to_datadir(dataset, tmp_path / "out", text_column="transcription")
    with pytest.raises(DataError, match="utterance u1: .*'en' \\(did you mean 'eng'\\?\\)"):
        hf_to_datadir(dataset, tmp_path / "out")
    with pytest.raises(DataError, match="'xx'"):
        hf_to_datadir(dataset, tmp_path / "out", lang="xx")
    # --lang replaces a language column that is not asked for by name
    hf_to_datadir(dataset, tmp_path / "out", lang="eng")
    assert DataDir.read(tmp_path / "out").utt2lang == {"u1": "eng", "u2": "eng"}
    with pytest.raises(DataError, match="utterance u_1: rows 0 and 1 have the same id"):
        hf_to_datadir(dataset.map(lambda row: {"id": "u 1"}), tmp_path / "dup", lang="eng")


def test_class_labels_become_names(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    write_audio(wav, tone(0.1), RATE)
    features = datasets.Features(
        {
            "audio": datasets.Value("string"),
            "intent": datasets.ClassLabel(names=["greet", "bye"]),
        }
    )
    dataset = datasets.Dataset.from_dict(
        {"audio": [str(wav)] * 3, "intent": [1, 0, -1]}, features=features
    )
    (report,) = hf_to_datadir(dataset, tmp_path / "out", text_column=None, label_column="intent")
    data = DataDir.read(tmp_path / "out")
    assert data.utt2label == {"utt-000000": "bye", "utt-000001": "greet"}
    assert data.text == {}
    assert [s.reason for s in report.skipped] == ["empty intent"]


def test_speechtaxi_columns_give_native_and_romanized_data_dirs(tmp_path: Path) -> None:
    """SpeechTaxi's features (its datasets loader, saved with save_to_disk): verse_ref,
    language, transcription, transcription_romanized and a 6-class ClassLabel."""
    wavs = []
    for number in range(2):
        wavs.append(str(tmp_path / f"v{number}.wav"))
        write_audio(wavs[-1], tone(0.2, 300 + 100 * number), RATE)
    classes = ["Recommendation", "Faith", "Description", "Sin", "Grace", "Violence"]
    features = datasets.Features(
        {
            "verse_ref": datasets.Value("string"),
            "text_en": datasets.Value("string"),
            "language": datasets.Value("string"),
            "transcription": datasets.Value("string"),
            "transcription_romanized": datasets.Value("string"),
            "label": datasets.ClassLabel(names=classes),
            "audio": datasets.Value("string"),
        }
    )
    rows = {
        "verse_ref": ["MAT_1_1", "MAT_1_2"],
        "text_en": ["the book", "abraham begat isaac"],
        "language": ["ukr", "ukr"],
        "transcription": ["книга родоводу", "авраам породив ісака"],
        "transcription_romanized": ["knyha rodovodu", "avraam porodyv isaka"],
        "label": [2, 1],
        "audio": wavs,
    }
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features)})
    splits.save_to_disk(str(tmp_path / "speechtaxi_ukr"))

    for column, out in (("transcription", "native"), ("transcription_romanized", "rom")):
        hf_to_datadir(
            tmp_path / "speechtaxi_ukr", tmp_path / out, text_column=column, id_column="verse_ref"
        )
    native, rom = (DataDir.read(tmp_path / out / "train") for out in ("native", "rom"))
    assert native.text == {"MAT_1_1": "книга родоводу", "MAT_1_2": "авраам породив ісака"}
    assert rom.text == {"MAT_1_1": "knyha rodovodu", "MAT_1_2": "avraam porodyv isaka"}
    for data in (native, rom):
        assert data.utt2label == {"MAT_1_1": "Description", "MAT_1_2": "Faith"}
        assert data.utt2lang == {"MAT_1_1": "ukr", "MAT_1_2": "ukr"}


# ---------------------------------------------------------------- Common Voice

CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\n"


def make_release(root: Path) -> Path:
    """A Common Voice-like release: 2 speakers, 4 clips, train/dev/test tsv files."""
    clips = root / "clips"
    clips.mkdir(parents=True)
    for number in range(4):
        path = clips / f"common_voice_sw_{number}.mp3"
        soundfile.write(
            str(path), tone(0.3, 200 + 100 * number), RATE, format="MP3", subtype="MPEG_LAYER_III"
        )
    rows = {
        "train": [("aaaa", 0, "habari ya asubuhi"), ("aaaa", 1, 'sema "ndiyo"')],
        "dev": [("bbbb", 2, "asante  sana")],
        "test": [("bbbb", 3, "karibu")],
    }
    for split, entries in rows.items():
        lines = [CV_HEADER] + [
            f"{client}\tcommon_voice_sw_{n}.mp3\t{text}\t2\t0\t\t\t\tsw\n"
            for client, n, text in entries
        ]
        (root / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    return root


def test_commonvoice_release_converts_per_split(tmp_path: Path) -> None:
    release = make_release(tmp_path / "cv" / "sw")
    reports = commonvoice_to_datadir(release, "swh", tmp_path / "data")
    assert [(r.split, r.utterances) for r in reports] == [("train", 2), ("dev", 1), ("test", 1)]

    spk_a, spk_b = commonvoice_speaker("aaaa"), commonvoice_speaker("bbbb")
    assert len(spk_a) == 12 and spk_a != spk_b and spk_a == commonvoice_speaker("aaaa")
    train = DataDir.read(tmp_path / "data" / "train")
    assert train.text == {
        f"{spk_a}-common_voice_sw_0": "habari ya asubuhi",
        f"{spk_a}-common_voice_sw_1": 'sema "ndiyo"',
    }
    assert train.spk2utt() == {spk_a: sorted(train.text)}
    assert set(train.utt2lang.values()) == {"swh"}
    dev = DataDir.read(tmp_path / "data" / "dev")
    assert dev.text == {f"{spk_b}-common_voice_sw_2": "asante sana"}
    assert Path(dev.wav_scp[dev.utts[0]]) == (release / "clips" / "common_voice_sw_2.mp3")
    assert abs(len(load_utterance(dev, dev.utts[0])) - int(0.3 * RATE)) < 0.05 * RATE


def test_commonvoice_skips_a_missing_clip_and_an_empty_sentence(tmp_path: Path) -> None:
    release = make_release(tmp_path / "cv")
    (release / "clips" / "common_voice_sw_1.mp3").unlink()
    tsv = release / "dev.tsv"
    tsv.write_text(tsv.read_text() + "cccc\tcommon_voice_sw_3.mp3\t  \t2\t0\t\t\t\tsw\n")

    reports = commonvoice_to_datadir(release, "swh", tmp_path / "data")

    assert [(r.split, r.utterances, len(r.skipped)) for r in reports] == [
        ("train", 1, 1),
        ("dev", 1, 1),
        ("test", 1, 0),
    ]
    spk_a, spk_c = commonvoice_speaker("aaaa"), commonvoice_speaker("cccc")
    assert (tmp_path / "data" / "train" / SKIPPED_FILE).read_text() == (
        f"{release / 'train.tsv'}:3 (id '{spk_a}-common_voice_sw_1'): clip not found: "
        f"{release / 'clips' / 'common_voice_sw_1.mp3'}\n"
    )
    assert (tmp_path / "data" / "dev" / SKIPPED_FILE).read_text() == (
        f"{tsv}:3 (id '{spk_c}-common_voice_sw_3'): empty sentence\n"
    )
    assert not (tmp_path / "data" / "test" / SKIPPED_FILE).exists()


def test_commonvoice_missing_column_names_tsv_header(tmp_path: Path) -> None:
    release = make_release(tmp_path / "cv")
    tsv = release / "dev.tsv"
    tsv.write_text(tsv.read_text().replace("sentence", "text"))
    with pytest.raises(DataError, match=r"dev\.tsv:1: missing column\(s\) sentence"):
        commonvoice_to_datadir(release, "swh", tmp_path / "data", splits=["dev"])
    with pytest.raises(DataError, match=r"other\.tsv: file not found"):
        commonvoice_to_datadir(release, "swh", tmp_path / "data", splits=["other"])
    with pytest.raises(DataError, match="'sw' \\(did you mean 'swa'"):
        commonvoice_to_datadir(release, "sw", tmp_path / "data")


def test_commonvoice_checks_every_tsv_before_writing_any(tmp_path: Path) -> None:
    release = make_release(tmp_path / "cv")
    commonvoice_to_datadir(release, "swh", tmp_path / "data")
    before = (tmp_path / "data" / "train" / "text").read_text()
    (release / "train.tsv").write_text(
        CV_HEADER + "dddd\tcommon_voice_sw_0.mp3\tnew\t2\t0\t\t\t\tsw\n"
    )
    (release / "test.tsv").write_text(CV_HEADER.replace("sentence", "text"))
    with pytest.raises(DataError, match=r"test\.tsv:1: missing column\(s\) sentence"):
        commonvoice_to_datadir(release, "swh", tmp_path / "data")
    assert (tmp_path / "data" / "train" / "text").read_text() == before
    with pytest.raises(DataError, match=r"test\.tsv:1: missing column"):
        commonvoice_to_datadir(release, "swh", tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_commonvoice_lang_must_agree_with_the_locale(tmp_path: Path) -> None:
    release = make_release(tmp_path / "cv")
    with pytest.raises(ConfigError) as err:
        commonvoice_to_datadir(release, "kat", tmp_path / "data")
    assert str(err.value) == (
        f"{release / 'train.tsv'}:2: --lang kat (Georgian) contradicts the Common Voice locale "
        "'sw' (Swahili); its code is 'swa' (or one of its varieties)"
    )
    assert not (tmp_path / "data").exists()
    for locale, lang in (("sw", "swa"), ("zh-CN", "cmn"), ("zh-HK", "yue"), ("ps", "pbt")):
        check_locale(locale, lang)
    for locale, lang in (("en", "deu"), ("zh-CN", "jpn"), ("ka", "eng")):
        with pytest.raises(ConfigError, match="contradicts the Common Voice locale"):
            check_locale(locale, lang)


def test_commonvoice_lists_clip_stems_that_were_rewritten(tmp_path: Path) -> None:
    release = make_release(tmp_path / "cv")
    (release / "clips" / "common_voice_sw_3.mp3").rename(release / "clips" / "clip (3).mp3")
    (release / "test.tsv").write_text(CV_HEADER + "bbbb\tclip (3).mp3\tkaribu\t2\t0\t\t\t\tsw\n")
    commonvoice_to_datadir(release, "swh", tmp_path / "data", splits=["test"])
    speaker = commonvoice_speaker("bbbb")
    assert DataDir.read(tmp_path / "data" / "test").utts == [f"{speaker}-clip_3_"]
    assert (tmp_path / "data" / "test" / RENAMED_FILE).read_text() == (
        f"{speaker}-clip_3_ {speaker}-clip (3)\n"
    )


def test_from_hf_checks_every_split_before_writing_any(data_dir: DataDir, tmp_path: Path) -> None:
    rows = datadir_to_hf(data_dir, tmp_path / "hf")
    good = datasets.DatasetDict({"train": rows.select([0, 1]), "test": rows.select([2])})
    hf_to_datadir(good, tmp_path / "out")
    before = (tmp_path / "out" / "train" / "text").read_text()
    bad_test = rows.select([2]).map(lambda row: {"language": "en"})
    bad = datasets.DatasetDict({"train": rows.select([0]), "test": bad_test})
    with pytest.raises(DataError, match=r"\(split test\): utterance spkB-u1: .*'en'"):
        hf_to_datadir(bad, tmp_path / "out")
    assert (tmp_path / "out" / "train" / "text").read_text() == before
    with pytest.raises(DataError, match="'en'"):
        hf_to_datadir(bad, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_from_hf_replaces_an_output_dir_whole_and_nothing_else(
    data_dir: DataDir, tmp_path: Path
) -> None:
    rows = datadir_to_hf(data_dir, tmp_path / "hf")
    out = tmp_path / "out"
    hf_to_datadir(rows, out)
    (out / "utt2uniq").write_text("stale entry\n")  # from an older conversion
    hf_to_datadir(rows.select([0]), out)
    assert not (out / "utt2uniq").exists()
    assert DataDir.read(out).utts == ["spkA-u1"]
    precious = _precious_dir(tmp_path)
    with pytest.raises(DataError, match="exists and is not a data dir; refusing to replace it"):
        hf_to_datadir(rows, precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    # data_dir's audio lies in tmp_path/audio: converting into tmp_path would delete it
    data_dir.write(tmp_path)
    with pytest.raises(DataError, match="lies inside the output dir, which the conversion"):
        hf_to_datadir(rows, tmp_path)
    assert (tmp_path / "audio" / "spkA-u1.wav").is_file()


def test_from_hf_lists_the_ids_it_rewrote(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", tone(0.1), RATE)
    rows = {"id": ["s1-a", "b", "c d"], "speaker": ["s1", "s1", "s 2"]}
    rows |= {"audio": ["a.wav"] * 3, "text": ["x"] * 3}
    (report,) = hf_to_datadir(
        datasets.Dataset.from_dict(rows), tmp_path / "out", audio_root=tmp_path
    )
    assert report.renamed == {"s1-b": "b", "s_2-c_d": "c d"}
    assert (tmp_path / "out" / RENAMED_FILE).read_text() == "s1-b b\ns_2-c_d c d\n"


def test_to_hf_carries_other_tables_as_columns(
    data_dir: DataDir, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert data_dir.path is not None
    (data_dir.path / "spk2gender").write_text("spkA f\nspkB m\n")
    (data_dir.path / "utt2uniq").write_text("spkA-u1 orig1\nspkB-u1 orig3\n")
    (data_dir.path / "prompts.lst").write_text("hello world\n")
    data = DataDir.read(data_dir.path)
    with caplog.at_level(logging.WARNING):
        dataset = datadir_to_hf(data, tmp_path / "hf")
    assert dataset["spk2gender"] == ["f", "f", "m"]
    assert dataset["utt2uniq"] == ["orig1", None, "orig3"]
    assert caplog.messages == [
        f"{data_dir.path}: not carried into {tmp_path / 'hf'} (not a data-dir table): prompts.lst"
    ]


def test_audio_bytes_that_do_not_decode_can_leave_a_split_empty_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    def split(utt: str, audio: bytes) -> datasets.Dataset:
        return datasets.Dataset.from_dict(
            {"id": [utt], "audio": [{"path": None, "bytes": audio}], "text": ["x"]}
        )

    dataset = datasets.DatasetDict(
        {"train": split("a", flac_bytes(tone(0.1))), "test": split("b", b"not audio")}
    )
    with pytest.raises(DataError) as err:
        hf_to_datadir(dataset, tmp_path / "out")
    assert str(err.value).startswith(
        "dataset (split test): no usable row (1 skipped: row 0 (id 'b'): audio bytes are not "
        "readable audio"
    )
    assert list((tmp_path / "out").iterdir()) == []  # no train/, no temporary directory
