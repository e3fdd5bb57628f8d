"""WER/CER scoring: hand-computed counts, agreement with jiwer, normalisation, breakdowns,
missing and unknown hypotheses, and the files written into a decode dir."""

from __future__ import annotations

import json
import logging
import random
import re
import unicodedata
from pathlib import Path

import jiwer
import pytest

from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.lang.normalize import TextNormalizer
from speechml.score.trn import read_trn, write_trn
from speechml.score.wer import (
    ErrorCounts,
    format_alignment,
    score_decode_dir,
    score_text_files,
    score_wer,
)

SCORE_LINE = re.compile(
    r"^%(WER|CER) (\d+\.\d\d) \[ (\d+) / (\d+), (\d+) ins, (\d+) del, (\d+) sub \] (.+)$"
)


def test_hand_computed_counts() -> None:
    # REF: one two three four five six           (6 words)
    # HYP: one too three five six seven eight
    # The only common words are one, three, five, six (in order), so at most 4 hits.
    # two/too sit between the same hits: 1 substitution; four has nothing facing it: 1
    # deletion; seven and eight follow six: 2 insertions. 4 edits, 66.67 %. No alignment does
    # better: 3 edits would need 0 deletions (then four cannot be matched) or 5 hits.
    report = score_wer(
        {"u1": "one two three four five six"}, {"u1": "one too three five six seven eight"}
    )
    assert report.total.words == ErrorCounts(ref=6, ins=2, dels=1, sub=1)
    assert report.total.words.errors == 4
    assert report.summary_lines("exp/a/decode_test")[0] == (
        "%WER 66.67 [ 4 / 6, 2 ins, 1 del, 1 sub ] exp/a/decode_test"
    )
    alignment = format_alignment(report.utts[0]).splitlines()
    assert alignment[1] == "Scores: (#C #S #D #I) 4 1 1 2"
    assert (
        alignment[3].split()
        == ["REF:", "one", "TWO", "three", "FOUR", "five", "six"] + ["*****"] * 2
    )
    assert alignment[4].split() == [
        "HYP:", "one", "TOO", "three", "****", "five", "six", "SEVEN", "EIGHT",
    ]  # fmt: skip
    assert alignment[5].split() == ["Eval:", "S", "D", "I", "I"]


def test_cer_on_text_without_spaces() -> None:
    # 我爱北京 vs 我爱南京了: 北->南 is 1 substitution, 了 1 insertion: CER 2/4 = 50 %,
    # while the unsegmented sentence is a single "word": WER 1/1.
    report = score_wer({"zh": "我爱北京"}, {"zh": "我爱南京了"})
    assert report.total.chars == ErrorCounts(ref=4, ins=1, dels=0, sub=1)
    assert report.summary_lines("d")[1] == "%CER 50.00 [ 2 / 4, 1 ins, 0 del, 1 sub ] d"
    assert report.total.words == ErrorCounts(ref=1, ins=0, dels=0, sub=1)


def test_cer_ignores_word_boundaries() -> None:
    report = score_wer({"th": "สวัสดี ครับ"}, {"th": "สวัสดีครับ"})
    assert report.total.chars.errors == 0
    assert report.total.chars.ref == len("สวัสดีครับ")
    assert report.total.words == ErrorCounts(ref=2, ins=0, dels=1, sub=1)


def test_agrees_with_jiwer_on_random_pairs() -> None:
    rng = random.Random(7)
    vocab = ["a", "bb", "cat", "dog", "éte", "मन", "вода", "x"]
    refs, hyps = {}, {}
    for i in range(200):
        refs[f"u{i:03d}"] = " ".join(rng.choices(vocab, k=rng.randint(1, 9)))
        hyps[f"u{i:03d}"] = " ".join(rng.choices(vocab, k=rng.randint(0, 9)))
    report = score_wer(refs, hyps, TextNormalizer(lowercase=False, remove_punctuation=False))
    ref_list = [refs[u] for u in sorted(refs)]
    hyp_list = [hyps[u] for u in sorted(refs)]
    assert report.total.words.rate / 100 == pytest.approx(jiwer.wer(ref_list, hyp_list))
    expected = jiwer.process_words(ref_list, hyp_list)
    words = report.total.words
    assert (words.ins, words.dels, words.sub) == (
        expected.insertions,
        expected.deletions,
        expected.substitutions,
    )
    no_space = ["".join(s.split()) for s in ref_list], ["".join(s.split()) for s in hyp_list]
    assert report.total.chars.rate / 100 == pytest.approx(jiwer.cer(*no_space))


def test_normalisation_case_punctuation_and_nfc() -> None:
    refs = {
        "en": "Hello, World!",
        "ar": "مرحبا، عالم؟",
        "hi": "नमस्ते। दुनिया॥",
        "zh": "你好。世界！",
        "fr": unicodedata.normalize("NFD", "Café « crème »"),
    }
    hyps = {
        "en": "hello world",
        "ar": "مرحبا عالم",
        "hi": "नमस्ते दुनिया",
        "zh": "你好 世界",
        "fr": unicodedata.normalize("NFC", "café crème"),
    }
    assert score_wer(refs, hyps).total.words.errors == 0
    assert score_wer(refs, hyps).total.chars.errors == 0
    kept = score_wer(refs, hyps, TextNormalizer(remove_punctuation=False))
    assert kept.total.words.errors > 0
    cased = score_wer({"u": "Hello"}, {"u": "hello"}, TextNormalizer(lowercase=False))
    assert cased.total.words.sub == 1
    nfd = score_wer(
        {"u": unicodedata.normalize("NFD", "café")},
        {"u": unicodedata.normalize("NFC", "café")},
        TextNormalizer(unicode_nfc=False),
    )
    assert nfd.total.words.sub == 1


def test_missing_hypotheses_are_deletions_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        report = score_wer({"u1": "a b", "u2": "c d e"}, {"u1": "a b"})
    assert report.missing == ["u2"]
    assert report.total.words == ErrorCounts(ref=5, ins=0, dels=3, sub=0)
    assert "1 of 2 utterances have no hypothesis" in caplog.text and "u2" in caplog.text
    assert "no hypothesis" in format_alignment(report.utts[1])


def test_unknown_hypothesis_ids_are_an_error() -> None:
    with pytest.raises(DataError, match=r"hyp\.trn: 2 hypotheses .*not in the reference: x, y"):
        score_wer({"u1": "a"}, {"u1": "a", "y": "b", "x": "c"}, hyp_path="hyp.trn")


def test_breakdowns_sum_to_the_total() -> None:
    refs = {"e1": "the cat", "e2": "a dog runs", "h1": "नमस्ते दुनिया", "h2": "धन्यवाद"}
    hyps = {"e1": "the hat", "e2": "a dog", "h1": "नमस्ते", "h2": "धन्यवाद जी"}
    utt2lang = {"e1": "eng", "e2": "eng", "h1": "hin", "h2": "hin"}
    utt2spk = {"e1": "s1", "e2": "s2", "h1": "s1", "h2": "s3"}
    report = score_wer(refs, hyps, utt2lang=utt2lang, utt2spk=utt2spk)
    assert list(report.per_lang) == ["eng", "hin"]
    assert report.per_lang["eng"].words == ErrorCounts(ref=5, ins=0, dels=1, sub=1)
    for groups in (report.per_lang, report.per_spk):
        total = sum(groups.values(), type(report.total)())
        assert total == report.total
    with pytest.raises(DataError, match="utterance h2: has no entry in utt2lang"):
        score_wer(refs, hyps, utt2lang={k: v for k, v in utt2lang.items() if k != "h2"})


def test_empty_reference_scores_insertions() -> None:
    report = score_wer({"u1": "", "u2": "a"}, {"u1": "x y", "u2": "a"})
    assert report.total.words == ErrorCounts(ref=1, ins=2, dels=0, sub=0)
    assert report.total.words.rate == 200.0  # 2 insertions against 1 reference word
    assert report.per_lang == {}


def test_a_set_of_empty_references_has_no_rate() -> None:
    report = score_wer({"u1": "", "u2": "..."}, {"u1": "x y", "u2": ""})
    assert report.total.words == ErrorCounts(ref=0, ins=2, dels=0, sub=0)
    assert report.total.words.rate is None and report.total.chars.rate is None
    assert report.summary_lines("d") == [
        "%WER N/A [ 2 / 0, 2 ins, 0 del, 0 sub ] d",
        "%CER N/A [ 2 / 0, 2 ins, 0 del, 0 sub ] d",
    ]
    assert report.to_dict()["wer"]["rate"] is None
    assert json.loads(json.dumps(report.to_dict()))["cer"]["rate"] is None


def test_a_language_of_empty_references_has_no_rate_but_its_insertions_count() -> None:
    refs, hyps = {"e1": "a b", "k1": ""}, {"e1": "a b", "k1": "x"}
    report = score_wer(refs, hyps, utt2lang={"e1": "eng", "k1": "kat"})
    assert report.per_lang["kat"].words.rate is None
    assert report.per_lang["kat"].words.line("WER", "kat") == (
        "%WER N/A [ 1 / 0, 1 ins, 0 del, 0 sub ] kat"
    )
    assert report.total.words.rate == 50.0


def test_contractions_and_compounds_are_one_word_each() -> None:
    # "Don't stop, well-known!" is 3 words; splitting at the apostrophe and hyphen made it 5.
    report = score_wer({"u1": "Don't stop, well-known!"}, {"u1": "dont stop well-known"})
    assert report.total.words == ErrorCounts(ref=3, ins=0, dels=0, sub=1)
    assert report.utts[0].ref == "don't stop well-known"
    same = score_wer({"u1": "Don\u2019t stop"}, {"u1": "don't stop"})
    assert same.total.words.errors == 0


def test_case_rules_follow_each_utterance_language() -> None:
    refs = {"t1": "IŞIK", "t2": "İZMİR", "e1": "IRIS"}
    hyps = {"t1": "ışık", "t2": "izmir", "e1": "iris"}
    utt2lang = {"t1": "tur", "t2": "tur", "e1": "eng"}
    assert score_wer(refs, hyps, utt2lang=utt2lang).total.words.errors == 0
    # Without the language, I lowers to i: "isik" is not "ışık", "i̇zmi̇r" is not "izmir".
    assert score_wer(refs, hyps).total.words.sub == 2


def write_dirs(root: Path) -> tuple[Path, Path]:
    data = DataDir(
        wav_scp={u: f"/a/{u}.wav" for u in ("e1", "e2", "h1")},
        utt2spk={"e1": "s1", "e2": "s2", "h1": "s3"},
        text={"e1": "The cat sat.", "e2": "A dog", "h1": "नमस्ते दुनिया"},
        utt2lang={"e1": "eng", "e2": "eng", "h1": "hin"},
    )
    data.write(root / "data" / "test")
    decode = root / "exp" / "base" / "decode_test"
    write_trn(decode / "hyp.trn", {"e1": "the bat sat", "h1": "नमस्ते"})
    return root / "data" / "test", decode


def test_score_decode_dir_writes_every_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir, decode = write_dirs(tmp_path)
    report = score_decode_dir(data_dir, decode)
    wer_lines = (decode / "wer").read_text(encoding="utf-8").splitlines()
    assert wer_lines[0] == f"%WER 57.14 [ 4 / 7, 0 ins, 3 del, 1 sub ] {decode}"
    assert SCORE_LINE.match(wer_lines[1])[1] == "CER"
    # s1: 1 of 3 words wrong, s2: 2 of 2 (no hypothesis), s3: 1 of 2.
    assert wer_lines[2] == (
        "# per speaker (3): median WER 50.00; worst: s2 100.00, s3 50.00, s1 33.33"
    )
    assert wer_lines[3].startswith("# 1 utterances had no hypothesis") and "e2" in wer_lines[3]
    assert wer_lines == report.report_lines(str(decode))
    assert not (decode / "wer_per_voice").exists()  # s1, s2, s3 name no voice
    per_lang = (decode / "wer_per_lang").read_text(encoding="utf-8").splitlines()
    assert [SCORE_LINE.match(line)[8] for line in per_lang] == [
        f"{decode} lang=eng",
        f"{decode} lang=eng",
        f"{decode} lang=hin",
        f"{decode} lang=hin",
    ]
    per_spk = (decode / "wer_per_spk").read_text(encoding="utf-8").splitlines()
    assert len(per_spk) == 6 and all(SCORE_LINE.match(line) for line in per_spk)
    assert "REF:  the CAT sat" in (decode / "per_utt").read_text(encoding="utf-8")
    assert read_trn(decode / "ref.trn") == {
        "e1": "the cat sat",
        "e2": "a dog",
        "h1": "नमस्ते दुनिया",
    }
    record = json.loads((decode / "score.json").read_text(encoding="utf-8"))
    assert record["wer"] == {"ref": 7, "ins": 0, "del": 3, "sub": 1, "errors": 4, "rate": 57.1429}
    assert record["per_lang"]["hin"]["wer"]["del"] == 1
    assert record["missing"] == ["e2"] and record["num_utts"] == 3
    assert record["decode_dir"] == str(decode)
    assert record["spread"]["spk"]["worst"][0] == {"id": "s2", "rate": 100.0}
    assert record["per_voice"] == {} and "voice" not in record["spread"]
    assert report.total.words.errors == 4


def test_transcript_without_speaker_names_the_utt2spk_file(tmp_path: Path) -> None:
    data_dir, decode = write_dirs(tmp_path)
    with (data_dir / "text").open("a", encoding="utf-8") as text:
        text.write("z9 stray transcript\n")
    with (data_dir / "utt2lang").open("a", encoding="utf-8") as utt2lang:
        utt2lang.write("z9 eng\n")
    with pytest.raises(DataError) as err:
        score_decode_dir(data_dir, decode)
    assert str(err.value) == f"{data_dir / 'utt2spk'}: utterance z9: has no entry in utt2spk"


def test_score_decode_dir_without_text_is_an_error(tmp_path: Path) -> None:
    data_dir, decode = write_dirs(tmp_path)
    (data_dir / "text").unlink()
    with pytest.raises(DataError, match=r"no references to score against \(text is missing"):
        score_decode_dir(data_dir, decode)


def test_two_kaldi_text_files_score_without_a_data_dir(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref, hyp = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    ref.write_text("u1 Don't STOP\nu2 IŞIK yok\nu3\nu4 good night\n", encoding="utf-8")
    hyp.write_text("u1 don't stop\nu2 ışık var\nu3 uh\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        report = score_text_files(ref, hyp, lang="tur")
    # u2: 1 sub; u3: an empty reference, 1 insertion; u4: no hypothesis, 2 deletions.
    assert report.total.words == ErrorCounts(ref=6, ins=1, dels=2, sub=1)
    assert report.missing == ["u4"] and "u4" in caplog.text
    assert report.report_lines(str(hyp))[::2] == [
        f"%WER 66.67 [ 4 / 6, 1 ins, 2 del, 1 sub ] {hyp}",
        "# 1 utterances had no hypothesis (scored as deletions): u4",
    ]
    assert score_text_files(ref, hyp).total.words.sub == 2  # without Turkish, IŞIK is "isik"


def test_text_files_take_an_utt2lang_file_that_must_cover_them(tmp_path: Path) -> None:
    ref, hyp, langs = tmp_path / "ref.txt", tmp_path / "hyp.txt", tmp_path / "langs"
    ref.write_text("t1 IŞIK\ne1 IRIS\n", encoding="utf-8")
    hyp.write_text("t1 ışık\ne1 iris\n", encoding="utf-8")
    langs.write_text("t1 tur\ne1 eng\n", encoding="utf-8")
    report = score_text_files(ref, hyp, utt2lang_path=langs)
    assert report.total.words.errors == 0 and list(report.per_lang) == ["eng", "tur"]
    langs.write_text("t1 tur\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        score_text_files(ref, hyp, utt2lang_path=langs)
    assert str(err.value) == f"{langs}: utterance e1: has no entry in langs"


@pytest.mark.parametrize(
    "ref_text, hyp_text, fragment",
    [
        ("", "u1 a\n", "ref.txt: no reference transcripts"),
        ("u1 a\nu1 b\n", "u1 a\n", "ref.txt:2: duplicated id 'u1'"),
        ("u1 a\n", "u1 a\nu2 b\n", "hyp.txt: 1 hypotheses for utterances not in the reference"),
        ("u1 a\n", None, "hyp.txt: file not found"),
    ],
)
def test_bad_text_files_name_the_file(tmp_path: Path, ref_text, hyp_text, fragment) -> None:
    ref, hyp = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    ref.write_text(ref_text, encoding="utf-8")
    if hyp_text is not None:
        hyp.write_text(hyp_text, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(fragment)):
        score_text_files(ref, hyp)


def test_a_directory_given_for_a_text_file_says_how_to_score_a_data_dir(tmp_path: Path) -> None:
    data_dir, decode = write_dirs(tmp_path)
    with pytest.raises(DataError) as err:
        score_text_files(data_dir, decode / "hyp.trn")
    assert str(err.value).startswith(f"{data_dir}: is a directory, not a reference file")
    assert "--data DIR --decode-dir DIR" in str(err.value)
