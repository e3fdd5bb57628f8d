from __future__ import annotations

import pytest

from speechml.cls.ngram import train_ngram
from speechml.cls.predict import predict_data_dir, read_labelled_texts
from speechml.data.table import read_table, write_table
from speechml.errors import DataError
from speechml.score.cls import score_cls_dir
from speechml.score.trn import write_trn

EXAMPLES = [("january march", "month"), ("france spain", "country"), ("май июнь", "month")]


def first_word(texts):
    """A stand-in classifier: the label is the text's first word."""
    return [text.split()[0] if text else "(empty)" for text in texts]


def test_writes_a_label_for_every_utterance_that_score_cls_reads(
    labelled_dir, name_pairs, tmp_path
):
    classifier = train_ngram(labelled_dir("train", name_pairs()))
    test = labelled_dir("test", name_pairs(step=3, form="{1} {0}"))
    written = predict_data_dir(classifier.predict, test, tmp_path / "decode", batch_size=7)
    on_disk = read_table(tmp_path / "decode" / "utt2label")
    assert on_disk == written and list(on_disk) == sorted(read_table(test / "utt2spk"))
    assert score_cls_dir(test, tmp_path / "decode").accuracy == 1.0


@pytest.mark.parametrize("form", ["decode dir", "trn file", "text table"])
def test_classifies_asr_hypotheses_instead_of_the_reference(labelled_dir, tmp_path, form):
    data = labelled_dir("test", EXAMPLES)
    hyps = {"utt000": "janvier mars", "utt001": "", "utt002": "мая"}
    source = {
        "decode dir": tmp_path / "asr",
        "trn file": tmp_path / "asr" / "hyp.trn",
        "text table": tmp_path / "hyp_text",
    }[form]
    write_trn(tmp_path / "asr" / "hyp.trn", hyps)
    write_table(tmp_path / "hyp_text", hyps)
    written = predict_data_dir(first_word, data, tmp_path / "decode", text_source=source)
    assert written == {"utt000": "janvier", "utt001": "(empty)", "utt002": "мая"}


def test_reference_texts_by_default(labelled_dir, tmp_path):
    written = predict_data_dir(first_word, labelled_dir("test", EXAMPLES), tmp_path / "decode")
    assert written == {"utt000": "january", "utt001": "france", "utt002": "май"}


@pytest.mark.parametrize(
    ("hyps", "message"),
    [
        ({"utt000": "a", "utt001": "b"}, r"hyp.trn: 1 utterances have no text: utt002"),
        ({"utt000": "a", "utt001": "b", "utt002": "c", "x9": "d"}, "not in the data dir: x9"),
    ],
)
def test_hypotheses_must_match_the_data_dir(labelled_dir, tmp_path, hyps, message):
    write_trn(tmp_path / "asr" / "hyp.trn", hyps)
    with pytest.raises(DataError, match=message):
        predict_data_dir(
            first_word, labelled_dir("test", EXAMPLES), tmp_path / "d", tmp_path / "asr"
        )
    assert not (tmp_path / "d" / "utt2label").exists()


def test_a_dir_without_hypotheses_is_named(labelled_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: is a directory without hyp.trn"):
        predict_data_dir(
            first_word, labelled_dir("test", EXAMPLES), tmp_path / "d", tmp_path / "empty"
        )


def test_a_classifier_giving_a_wrong_number_of_labels_is_refused(labelled_dir, tmp_path):
    with pytest.raises(ValueError, match="gave 1 labels for 3 texts"):
        predict_data_dir(lambda texts: ["month"], labelled_dir("test", EXAMPLES), tmp_path / "d")


def test_training_texts_need_utt2label(labelled_dir):
    data = labelled_dir("train", EXAMPLES)
    assert read_labelled_texts(data) == ([t for t, _ in EXAMPLES], [y for _, y in EXAMPLES])
    (data / "utt2label").unlink()
    with pytest.raises(DataError, match=r"train/utt2label: missing or empty"):
        read_labelled_texts(data)
