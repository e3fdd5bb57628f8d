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
