"""A verb pays only for what it uses: the parser and the light verbs load no heavy library.

Each check runs in a fresh interpreter (``sys.modules`` of this test process already holds
torch), and reads which of :data:`HEAVY` it ended up importing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: Libraries that take a second or more to import here.
HEAVY = ("torch", "transformers", "sklearn", "scipy", "matplotlib", "peft", "datasets")


def heavy_imports(code: str) -> list[str]:
    """Which of :data:`HEAVY` a fresh interpreter has imported after running ``code``."""
    found = f"[m for m in {HEAVY!r} if m in sys.modules]"
    probe = f"{code}\nimport json, sys\nprint(json.dumps({found}))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_building_every_groups_parser_imports_no_heavy_library() -> None:
    assert heavy_imports("from speechml.cli import build_parser\nbuild_parser()") == []


def test_a_registry_choice_is_checked_when_the_option_is_given() -> None:
    code = (
        "from speechml.cli import build_parser\n"
        "build_parser({'asr'}).parse_args(['asr', 'pseudo-label', '--model', 'm', '--data', 'd',"
        " '--out', 'o', '--method', 'beam'])"
    )
    assert "torch" in heavy_imports(code)  # SEARCHES lives beside the searches
    bad = subprocess.run(
        [sys.executable, "-c", "import sys; from speechml.cli import main; main(sys.argv[1:])",
         "asr", "decode", "--data", "d", "--out", "o", "--model", "m", "--method", "nope"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "invalid choice: 'nope' (choose from 'beam', 'ctc', 'greedy', 'streaming')" in (
        bad.stderr
    )


def _run_verb(*argv: str | Path) -> str:
    """``code`` that runs ``speechml ARGV`` in process and fails if it does not exit 0."""
    words = [str(word) for word in argv]
    return f"from speechml.cli import main\nassert main({words!r}) == 0"


@pytest.mark.parametrize(
    ("verb", "allowed"),
    [
        ("combine", ()),
        ("romanize", ()),
        ("train-ngram", ("sklearn", "scipy")),
        ("predict-ngram", ("sklearn", "scipy")),
        ("score-wer", ()),
    ],
)
def test_light_verbs_import_no_torch_or_transformers(
    verb: str, allowed: tuple[str, ...], make_data_dir: Callable[..., Path], tmp_path: Path
) -> None:
    data = make_data_dir(num_utts=6, languages=("eng", "kat"), utt2label=True)
    model, out = tmp_path / "ngram", tmp_path / "decode"
    commands = {
        "combine": [_run_verb("data", "combine", tmp_path / "both", data, data)],
        "romanize": [_run_verb("text", "romanize", data, tmp_path / "rom")],
        "train-ngram": [_run_verb("cls", "train-ngram", "--train", data, "--exp", model)],
        "predict-ngram": [
            _run_verb("cls", "train-ngram", "--train", data, "--exp", model),
            _run_verb("cls", "predict", "--model", model / "model", "--data", data, "--out", out),
        ],
        "score-wer": [_run_verb("score", "wer", data / "text", data / "text")],
    }
    *setup, checked = commands[verb]
    for code in setup:
        heavy_imports(code)
    assert sorted(heavy_imports(checked)) == sorted(allowed)
