"""``speechml text romanize``, run through speechml.cli.main."""

from __future__ import annotations

import pytest

import speechml.cli
from speechml.data.datadir import DataDir


@pytest.fixture
def speechml_text(monkeypatch, capsys):
    """Run ``speechml text ARGS...``; return (exit status, stdout, stderr)."""
    monkeypatch.setattr(speechml.cli, "GROUPS", {"text": ("text tools", ("speechml.cli.text",))})

    def run(*args: object) -> tuple[int, str, str]:
        status = speechml.cli.main(["text", *map(str, args)])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "src"
    DataDir(
        wav_scp={"u1": "/a/u1.wav", "u2": "/a/u2.wav"},
        text={"u1": "Гора  Говерла", "u2": "Ελλάδα"},
        utt2spk={"u1": "s1", "u2": "s2"},
        utt2lang={"u1": "ukr", "u2": "ell"},
    ).write(path)
    return path


def test_romanize_round_trip(speechml_text, src, tmp_path):
    out = tmp_path / "out"
    status, stdout, _ = speechml_text("romanize", src, out)
    assert status == 0
    assert stdout == f"{out}: romanized 2 transcripts (ell, ukr)\n"
    assert (out / "text").read_text(encoding="utf-8") == "u1 hora hoverla\nu2 ellada\n"
    for name in ("wav.scp", "utt2spk", "spk2utt", "utt2lang"):
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert speechml_text("romanize", src, out, "--keep-case")[0] == 0
    assert DataDir.read(out).text == {"u1": "Hora Hoverla", "u2": "Ellada"}


def test_romanize_error_is_one_line(speechml_text, src, tmp_path):
    (src / "utt2lang").write_text("u1 uk\nu2 ell\n", encoding="utf-8")
    status, stdout, stderr = speechml_text("romanize", src, tmp_path / "out")
    assert status == 1 and stdout == ""
    assert stderr == (
        f"speechml text romanize: error: {src / 'utt2lang'}: utterance u1: unknown ISO 639-3 "
        "language code 'uk' (did you mean 'ukr'?)\n"
    )
    assert not (tmp_path / "out").exists()


def test_pretrain_expand_and_retrieval(speechml_text, tmp_path):
    months = {
        "eng": "january february march april may june july august".split(),
        "rus": "январь февраль март апрель май июнь июль август".split(),
    }
    data = DataDir()
    for lang, names in months.items():
        for i in range(30):
            utt = f"{lang}-{i:02d}"
            data.text[utt] = f"{names[i % 8]} {names[(i * 3 + 1) % 8]}"
            data.utt2spk[utt], data.utt2lang[utt] = lang, lang
    data.write(tmp_path / "train")
    kat = DataDir(text={"k1": "იანვარი თებერვალი", "k2": "მარტი აპრილი"},
                  utt2spk={"k1": "s", "k2": "s"}, utt2lang={"k1": "kat", "k2": "kat"})  # fmt: skip
    kat.write(tmp_path / "kat")
    status, out, err = speechml_text(
        "pretrain", "--train", tmp_path / "train", "--exp", tmp_path / "lm",
        "--set", "objective=langsamp", "--set", "train.max_steps=3", "--set", "valid_texts=10",
        "--set", "model.hidden_size=32", "--set", "model.vocab_size=120",
    )  # fmt: skip
    assert status == 0, err
    assert "langsamp text encoder" in out
    assert (tmp_path / "lm" / "language_similarity.png").is_file()
    status, out, err = speechml_text(
        "expand-vocab", "--model", tmp_path / "lm" / "model", "--text", tmp_path / "kat",
        "--init", "ofa", "--vocab-size", "30", "--transmi", "mean", "--out", tmp_path / "lm_kat",
    )  # fmt: skip
    assert status == 0, err
    assert "(ofa initialisation)" in out and "(transmi-mean initialisation)" in out
    status, out, err = speechml_text(
        "retrieval", "--model", tmp_path / "lm_kat", "--data", tmp_path / "train"
    )
    assert status == 0, err
    assert "native -> romanized retrieval" in out and "of 16" in out
