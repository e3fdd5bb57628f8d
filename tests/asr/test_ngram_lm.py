"""The n-gram LM: Kneser-Ney values by hand, sums to 1, save/load, ARPA, LM dirs, bad files."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from safetensors.numpy import save_file

from speechml.asr.ngram_lm import (
    LM_INDEX,
    LmDir,
    NgramLm,
    lm_texts,
    read_text_lines,
    save_lms,
    train_lm_dir,
    train_ngram_lm,
)
from speechml.data.datadir import DataDir
from speechml.data.tokenizer import CharTokenizer
from speechml.errors import ConfigError, DataError


def random_sentences(count: int, vocab_size: int, seed: int = 0) -> list[list[int]]:
    gen = random.Random(seed)
    skewed = [1 + int(gen.paretovariate(1.2)) % (vocab_size - 1) for _ in range(500)]
    return [[gen.choice(skewed) for _ in range(gen.randrange(1, 12))] for _ in range(count)]


def test_kneser_ney_probabilities_of_a_tiny_corpus_by_hand():
    """Sentences "1 2" and "1 3", order 2, ids 1-3 and </s> = 4.

    Unigram continuation counts: 1, 2, 3 once each (after <s>, 1, 1), </s> twice (after 2, 3);
    D1 = 3 / (3 + 2) = 0.6, so P(w) = (c - 0.6) / 5 + 0.6 * 4 / 5 * 1 / 4.
    Bigrams counted: <s> 1 twice, the rest once; D2 = 4 / (4 + 2) = 2/3.
    """
    lm = train_ngram_lm([[1, 2], [1, 3]], order=2, vocab_size=4)
    assert lm.discounts == pytest.approx([0.6, 2 / 3])
    assert lm.probs(()) == pytest.approx([0, 0.2, 0.2, 0.2, 0.4])
    after_1 = lm.probs((1,))  # (1 - 2/3) / 2 + 2/3 * 2/2 * P(w)
    assert after_1 == pytest.approx([0, 2 / 3 * 0.2, 0.3, 0.3, 2 / 3 * 0.4])
    assert lm.probs((0,))[1] == pytest.approx((2 - 2 / 3) / 2 + 2 / 3 * 1 / 2 * 0.2)
    assert lm.sentence_log_prob([1, 2]) == pytest.approx(
        math.log(lm.probs((0,))[1]) + math.log(0.3) + math.log(lm.probs((2,))[4])
    )


@pytest.mark.parametrize("order", [1, 3, 6])
def test_probabilities_sum_to_one_over_the_vocabulary_in_any_context(order):
    lm = train_ngram_lm(random_sentences(300, 20), order, vocab_size=20)
    gen = random.Random(1)
    contexts = [lm.context([])]
    contexts += [lm.context([gen.randrange(1, 20) for _ in range(n)]) for n in range(1, 9)] * 5
    contexts += [lm.context(s) for s in random_sentences(20, 20, seed=1)]  # seen and unseen
    for context in contexts:
        probs = lm.probs(context)
        assert probs.shape == (21,) and probs[0] == 0.0  # id 0 (blank / <s>) is never predicted
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)
        assert (probs[1:] > 0).all()  # every token and </s> keeps some probability
        assert np.exp(lm.log_probs(context)) == pytest.approx(probs, rel=1e-5)


def test_continuation_counts_not_frequency_rule_the_lower_order():
    """A token seen often but only after one token ("Francisco") gets less probability in a
    new context than a rarer token seen after many (Kneser-Ney's point)."""
    sentences = [[3, 4]] * 20 + [[t, 5] for t in (1, 2, 6, 7, 8)]  # 4 only after 3
    lm = train_ngram_lm(sentences, order=2, vocab_size=9)
    assert lm.probs((8,))[4] < lm.probs((8,))[5]
    assert lm.probs((3,))[4] > 0.9  # after 3 the bigram rules


def test_the_lm_prefers_the_text_it_saw():
    lm = train_ngram_lm([[1, 2, 3, 4]] * 5 + [[4, 3, 2]], order=3, vocab_size=6)
    assert lm.sentence_log_prob([1, 2, 3, 4]) > lm.sentence_log_prob([1, 3, 2, 4])
    assert lm.context([1, 2, 3, 4]) == (3, 4) and lm.context([]) == (0,)


def test_save_and_load_round_trip(tmp_path):
    lm = train_ngram_lm(random_sentences(100, 15), 4, vocab_size=15)
    lm.save(tmp_path / "lm.safetensors")
    loaded = NgramLm.load(tmp_path / "lm.safetensors", vocab_size=15, order=4)
    for tokens in random_sentences(10, 15, seed=3):
        assert loaded.sentence_log_prob(tokens) == lm.sentence_log_prob(tokens)


@pytest.mark.parametrize(
    "grams, counts, message",
    [
        (np.array([[1, 2]]), np.array([1]), "shapes"),
        (np.array([[9]]), np.array([1]), "ids outside"),
        (np.array([[1], [1]]), np.array([1, 1]), "repeated"),
        (np.array([[0]]), np.array([1]), "<s> is only first"),
        (np.array([[2]]), np.array([0]), "at least 1"),
        (np.array([[2.0]]), np.array([1]), "integers"),
    ],
)
def test_bad_lm_files_are_one_line_errors(tmp_path, grams, counts, message):
    path = tmp_path / "bad.safetensors"
    save_file({"grams_1": grams, "counts_1": counts}, str(path))
    with pytest.raises(DataError, match=message) as err:
        NgramLm.load(path, vocab_size=5, order=1)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_and_short_lm_files_are_one_line_errors(tmp_path):
    path = tmp_path / "lm.safetensors"
    train_ngram_lm([[1, 2]], 1, 5).save(path)
    with pytest.raises(DataError, match="no grams_2 or counts_2"):
        NgramLm.load(path, vocab_size=5, order=2)
    one, two = np.array([[1], [5]]), np.array([[5, 1]])
    save_file(
        {
            "grams_1": one,
            "counts_1": np.ones(2, np.int64),
            "grams_2": two,
            "counts_2": np.ones(1, np.int64),
        },
        str(path),
    )
    with pytest.raises(DataError, match="grams_2: </s> is only last"):
        NgramLm.load(path, vocab_size=5, order=2)
    path.write_bytes(b"not safetensors")
    with pytest.raises(DataError, match="unreadable LM file"):
        NgramLm.load(path, vocab_size=5, order=1)


def arpa_log10_prob(arpa: dict, words: list[str]) -> float:
    """log10 P(words[-1] | words[:-1]) by ARPA back-off: the n-gram, else back-off + shorter."""
    if tuple(words) in arpa:
        return arpa[tuple(words)][0]
    backoff = arpa.get(tuple(words[:-1]), (0.0, 0.0))[1]
    return backoff + arpa_log10_prob(arpa, words[1:])


def read_arpa(path) -> tuple[dict, dict[int, int]]:
    """n-gram -> (log10 prob, log10 back-off), and the header's counts."""
    entries, counts = {}, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("ngram "):
            order, count = line[6:].split("=")
            counts[int(order)] = int(count)
        fields = line.split("\t")
        if len(fields) >= 2:
            backoff = float(fields[2]) if len(fields) == 3 else 0.0
            entries[tuple(fields[1].split(" "))] = (float(fields[0]), backoff)
    return entries, counts


def test_arpa_export_gives_the_same_probabilities_by_back_off(tmp_path):
    tokenizer = CharTokenizer(list("▁abcd"))
    texts = ["ab cd", "abc", "dab", "a b", "cab dab", "bad"]
    lm = train_ngram_lm([tokenizer.encode(t) for t in texts], 3, tokenizer.vocab_size)
    lm.write_arpa(tmp_path / "lm.arpa", tokenizer.tokens)
    arpa, counts = read_arpa(tmp_path / "lm.arpa")
    assert counts == {1: 8, 2: len(lm.levels[1][0]), 3: len(lm.levels[2][0])}  # + <s> </s> <unk>
    names = ["<s>", *tokenizer.tokens[1:], "</s>"]
    gen = random.Random(0)
    for _ in range(30):
        tokens = [gen.randrange(1, tokenizer.vocab_size) for _ in range(gen.randrange(0, 4))]
        context = lm.context(tokens)
        for word in range(1, tokenizer.vocab_size + 1):
            expected = math.log10(lm.probs(context)[word])
            got = arpa_log10_prob(arpa, [names[i] for i in (*context, word)])
            assert got == pytest.approx(expected, abs=2e-6)


def test_training_refuses_no_text_and_bad_orders():
    with pytest.raises(ConfigError, match="no text"):
        train_ngram_lm([[], []], 3, 5)
    with pytest.raises(ConfigError, match="at least 1"):
        train_ngram_lm([[1]], 0, 5)


@pytest.fixture
def two_languages(make_data_dir):
    data = DataDir.read(make_data_dir(num_utts=6, languages=("eng", "kat")))
    for utt in data.utts:  # each language its own words
        data.text[utt] = "one two" if data.utt2lang[utt] == "eng" else "ერთი ორი"
    return data


def test_lm_texts_by_language_from_data_and_text_files(two_languages, tmp_path):
    by_lang = lm_texts([two_languages], per_language=True)
    assert by_lang == {"eng": ["one two"] * 3, "kat": ["ერთი ორი"] * 3}
    extra = tmp_path / "kat.txt"
    extra.write_text("სამი\n\nოთხი ხუთი\n", encoding="utf-8")
    assert lm_texts(text_files=[extra], lang="kat") == {"kat": ["სამი", "ოთხი ხუთი"]}
    assert lm_texts([two_languages])[None] == list(two_languages.text.values())
    with pytest.raises(ConfigError, match="--lang"):
        lm_texts([two_languages], [extra], per_language=True)
    with pytest.raises(ConfigError, match="not both"):
        lm_texts([two_languages], lang="kat", per_language=True)
    with pytest.raises(ConfigError, match="language code"):
        lm_texts(text_files=[extra], lang="../kat")
    del two_languages.utt2lang[two_languages.utts[0]]
    with pytest.raises(DataError, match="utt2lang: utterance spk1-utt000: no language"):
        lm_texts([two_languages], per_language=True)


def test_a_text_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "text.txt"
    path.write_bytes("góod\nalso good\n".encode() + b"\xff bad\n")
    with pytest.raises(DataError, match=r"text\.txt:3: not UTF-8"):
        read_text_lines(path)
    with pytest.raises(DataError, match="not found"):
        read_text_lines(tmp_path / "missing.txt")


def test_lm_dir_per_language_grows_and_picks_each_language(two_languages, tmp_path):
    tokenizer = CharTokenizer(sorted(set("▁onetwoერთიორისამ")))
    out = tmp_path / "lm"
    lms = train_lm_dir(tokenizer, lm_texts([two_languages], per_language=True), 4, out)
    assert lms.languages == ["eng", "kat"]
    text = tmp_path / "kat.txt"
    text.write_text("სამი სამი\n", encoding="utf-8")
    train_lm_dir(tokenizer, lm_texts(text_files=[text], lang="kat"), 3, out, arpa=True)
    loaded = LmDir.load(out)
    assert loaded.languages == ["eng", "kat"] and (out / "kat.arpa").is_file()
    kat, eng = loaded.for_language("kat"), loaded.for_language("eng")
    assert kat.order == 3 and eng.order == 4  # kat's LM replaced by the text file's
    assert kat.sentence_log_prob(tokenizer.encode("სამი")) > eng.sentence_log_prob(
        tokenizer.encode("სამი")
    )
    assert loaded.for_language("rus") is None and loaded.for_language(None) is None
    with pytest.raises(ConfigError, match="shared LM and LMs by language"):
        train_lm_dir(tokenizer, lm_texts([two_languages]), 3, out)
    other = CharTokenizer(sorted(set("▁onetwo")))
    with pytest.raises(ConfigError, match="another tokenizer"):
        save_lms(out, other, {"spa": train_ngram_lm([[2, 3]], 2, other.vocab_size)})


def test_a_shared_lm_serves_every_language(two_languages, tmp_path):
    tokenizer = CharTokenizer(sorted(set("▁onetwoერთიორი")))
    lms = train_lm_dir(tokenizer, lm_texts([two_languages]), 3, tmp_path / "lm")
    assert lms.languages == [] and lms.for_language("kat") is lms.for_language(None)
    assert json.loads((tmp_path / "lm" / LM_INDEX).read_text())["models"][0]["file"] == (
        "shared.safetensors"
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda index: index.update(format="arpa"), "not a speechml-ngram-lm"),
        (lambda index: index.pop("models"), "malformed LM index"),
        (lambda index: index["models"][0].update(file="../eng.safetensors"), "bad LM entry"),
        (lambda index: index["models"][0].update(language="../x"), "language code"),
        (lambda index: index["models"][0].update(order=3), "no grams_3"),
    ],
)
def test_a_malformed_lm_dir_is_a_one_line_error(two_languages, tmp_path, change, message):
    tokenizer = CharTokenizer(sorted(set("▁onetwoერთიორი")))
    out = tmp_path / "lm"
    train_lm_dir(tokenizer, lm_texts([two_languages], per_language=True), 2, out)
    index = json.loads((out / LM_INDEX).read_text())
    change(index)
    (out / LM_INDEX).write_text(json.dumps(index))
    with pytest.raises(DataError, match=message) as err:
        LmDir.load(out)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="file not found"):
        LmDir.load(tmp_path / "nowhere")
