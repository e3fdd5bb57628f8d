"""Fixtures of the SSL tests (helpers in ssl_toys.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from ssl_toys import write_syllable_dir  # noqa: E402


@pytest.fixture(scope="session")
def syllables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 utterances of the toy language (about 1 s each)."""
    return write_syllable_dir(tmp_path_factory.mktemp("ssl") / "data", 16)
