"""WER and CER of a scored decode dir, per language, read back from its ``score.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from speechml.config import read_json
from speechml.errors import SpeechmlError


@dataclass(frozen=True)
class Rates:
    """WER and CER (percent) of one system on one language; None without reference words."""

    wer: float | None
    cer: float | None
    utts: int


def read_rates(decode_dir: Path) -> dict[str, Rates]:
    """Language -> rates from a decode dir's ``score.json`` (``all``: the whole set)."""
    path = decode_dir / "score.json"
    if not path.is_file():
        raise SpeechmlError(f"{path}: not found (run `speechml score wer` on {decode_dir})")
    record = read_json(path)
    rates = {"all": Rates(record["wer"]["rate"], record["cer"]["rate"], record["num_utts"])}
    for lang, score in record.get("per_lang", {}).items():
        rates[lang] = Rates(score["wer"]["rate"], score["cer"]["rate"], score["num_utts"])
    return rates
