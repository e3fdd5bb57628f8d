"""The data plan of the adapter recipe: tail_split and ``speechml asr tail-split``."""

from __future__ import annotations

import re

import pytest

import speechml.cli
from speechml.asr.tail import tail_split, upsampled_copy
from speechml.data.datadir import DataDir, Segment
from speechml.data.validate import validate_data_dir
from speechml.errors import ConfigError, DataError

LANGUAGES = ("eng", "kat", "ell", "amh")  # speaker k speaks LANGUAGES[k - 1]: 10 utterances each


@pytest.fixture
def train_dir(make_data_dir):
    return make_data_dir(
        "train", num_utts=40, num_speakers=4, languages=LANGUAGES, utt2dur=True, utt2label=True
    )


def of_language(data: DataDir, lang: str) -> set[str]:
    return {u for u in data.utts if data.utt2lang[u] == lang}


def test_each_tail_language_keeps_its_own_number_of_transcripts(train_dir):
    data = DataDir.read(train_dir)
    parts = tail_split(data, {"kat": 3, "ell": 6})
    assert sorted(parts) == [
        "ell_labelled",
        "ell_untranscribed",
        "kat_labelled",
        "kat_untranscribed",
        "train_base",
    ]
    for lang, count in (("kat", 3), ("ell", 6)):
        labelled, untranscribed = parts[f"{lang}_labelled"], parts[f"{lang}_untranscribed"]
        assert len(labelled) == count and len(untranscribed) == 10 - count
        assert set(labelled.utts) | set(untranscribed.utts) == of_language(data, lang)
        assert labelled.text == {u: data.text[u] for u in labelled.utts}
        assert untranscribed.text == {} and untranscribed.utt2lang
        assert of_language(parts["train_base"], lang) == set(labelled.utts)
    base = parts["train_base"]
    assert of_language(base, "eng") == of_language(data, "eng")  # head languages whole
    assert of_language(base, "amh") == of_language(data, "amh")
    assert len(base) == 20 + 3 + 6


def test_a_tail_languages_choice_does_not_depend_on_the_others(train_dir):
    data = DataDir.read(train_dir)
    alone = tail_split(data, {"kat": 3})
    together = tail_split(data, {"ell": 6, "kat": 3})
    assert together["kat_labelled"].utts == alone["kat_labelled"].utts
    assert tail_split(data, {"kat": 3}, seed=1)["kat_labelled"].utts != alone["kat_labelled"].utts
    assert of_language(alone["train_base"], "ell") == of_language(data, "ell")


def test_upsampling_repeats_the_labelled_tail_utterances_under_new_sorted_ids(train_dir, tmp_path):
    data = DataDir.read(train_dir)
    parts = tail_split(data, {"kat": 3, "ell": 6}, upsample=3)
    base = parts["train_base"]
    labelled = parts["kat_labelled"].utts + parts["ell_labelled"].utts
    assert len(base) == 20 + 3 * 9 and len(set(base.utts)) == len(base)
    for utt in labelled:
        for copy in (f"up2-{utt}", f"up3-{utt}"):
            assert base.wav_scp[copy] == data.wav_scp[utt]  # the same audio file
            assert base.text[copy] == data.text[utt]
            assert base.utt2lang[copy] == data.utt2lang[utt]
            assert base.utt2dur[copy] == data.utt2dur[utt]
            assert base.utt2label[copy] == data.utt2label[utt]
            assert base.utt2spk[copy] == copy.split("-")[0] + "-" + data.utt2spk[utt]
    assert not any(u.startswith("up") for u in of_language(base, "eng") | of_language(base, "amh"))
    assert len(parts["kat_labelled"]) == 3  # the labelled dirs themselves hold no copies
    base.write(tmp_path / "train_base")
    assert validate_data_dir(tmp_path / "train_base", check_audio=True) == []  # sorted, Kaldi-valid
    lines = (tmp_path / "train_base" / "utt2spk").read_text().splitlines()
    assert lines == sorted(lines, key=lambda line: line.encode())


def test_copies_of_segmented_utterances_point_at_the_same_recording():
    data = DataDir(
        wav_scp={"rec1": "/audio/rec1.wav"},
        text={"s1-a": "one", "s1-b": "two"},
        utt2spk={"s1-a": "s1", "s1-b": "s1"},
        segments={"s1-a": Segment("rec1", 0.0, 1.0), "s1-b": Segment("rec1", 1.0, 2.5)},
    )
    copy = upsampled_copy(data, 2)
    assert copy.wav_scp == data.wav_scp
    assert copy.segments == {"up2-s1-a": data.segments["s1-a"], "up2-s1-b": data.segments["s1-b"]}
    assert copy.utt2spk == {"up2-s1-a": "up2-s1", "up2-s1-b": "up2-s1"}


@pytest.mark.parametrize(
    ("labelled", "upsample", "error", "message"),
    [
        ({"kat": 10}, 1, DataError, r"kat has 10 training utterances.*between 1 and 9, got 10"),
        ({"kat": 0}, 1, DataError, "got 0"),
        ({"kat": 3, "heb": 2}, 1, DataError, r"no utterance in Hebrew \(heb\)"),
        ({}, 1, ConfigError, "at least one tail language"),
        ({"kat": 3}, 0, ConfigError, "up-sampling factor must be at least 1, got 0"),
    ],
)
def test_bad_plans_are_refused_naming_the_language(train_dir, labelled, upsample, error, message):
    with pytest.raises(error, match=message) as err:
        tail_split(DataDir.read(train_dir), labelled, upsample)
    if error is DataError:
        assert str(train_dir) in str(err.value)


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def speechml_asr(monkeypatch, capsys):
    """Run ``speechml asr ARGS...``; return (exit status, stdout, stderr)."""
    monkeypatch.setattr(speechml.cli, "GROUPS", {"asr": ("asr", ("speechml.cli.asr",))})

    def run(*args: object) -> tuple[int, str, str]:
        status = speechml.cli.main(["asr", *map(str, args)])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_cli_writes_every_part_of_several_tail_languages(speechml_asr, train_dir, tmp_path):
    out = tmp_path / "data"
    status, stdout, _ = speechml_asr(
        "tail-split", "--data", train_dir, "--lang", "kat,ell", "--labelled", "3,6",
        "--upsample", "2", "--out-dir", out,
    )  # fmt: skip
    assert status == 0
    assert f"{out / 'train_base'}: {20 + 2 * 9} utterances" in stdout
    assert f"{out / 'ell_untranscribed'}: 4 utterances" in stdout
    assert len(DataDir.read(out / "kat_labelled")) == 3
    assert not (out / "kat_untranscribed" / "text").exists()
    assert validate_data_dir(out / "train_base") == []


def test_cli_one_tail_language_as_before(speechml_asr, train_dir, tmp_path):
    status, stdout, _ = speechml_asr(
        "tail-split", "--data", train_dir, "--lang", "kat", "--labelled", "4",
        "--out-dir", tmp_path / "data",
    )  # fmt: skip
    assert status == 0
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "kat_labelled",
        "kat_untranscribed",
        "train_base",
    ]
    assert len(DataDir.read(tmp_path / "data" / "train_base")) == 30 + 4


@pytest.mark.parametrize(
    ("langs", "counts", "message"),
    [
        ("kat,ell", "3", r"one labelled count per tail language \(2 language\(s\), 1 count"),
        ("kat,kat", "3,4", "kat listed twice"),
    ],
)
def test_cli_refuses_counts_that_do_not_match_the_languages(
    speechml_asr, train_dir, tmp_path, langs, counts, message
):
    status, _, stderr = speechml_asr(
        "tail-split", "--data", train_dir, "--lang", langs, "--labelled", counts,
        "--out-dir", tmp_path / "data",
    )  # fmt: skip
    assert status == 1
    assert stderr.startswith("speechml asr tail-split: error: --lang ")
    assert len(stderr.splitlines()) == 1
    assert re.search(message, stderr)
    assert not (tmp_path / "data").exists()
