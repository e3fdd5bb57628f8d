"""The continued-pretraining summary: each fine-tuned system's WER/CER on the target language,
and the pretraining runs' diagnostics (contrastive loss, codebook perplexity, gradient norm)
read from their ``log/metrics.jsonl``.

Example:
    >>> text = cpt_summary("kat", {"fine-tuning only": Path("exp/w2v_ft_kat")},
    ...                    {"stand-in": Path("exp/w2v_base")})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from speechml.config import read_json
from speechml.errors import SpeechmlError
from speechml.markdown import abbreviation_legend, markdown_table
from speechml.score.rates import read_rates


def _records(exp_dir: Path) -> list[dict]:
    path = exp_dir / "log" / "metrics.jsonl"
    if not path.is_file():
        raise SpeechmlError(f"{path}: not found (has the pretraining run started?)")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def pretraining_row(label: str, exp_dir: Path) -> list[object]:
    """One table row of a pretraining run: steps, contrastive loss first -> last, codebook
    perplexity of its size, last gradient norm, last validation loss."""
    records = _records(exp_dir)
    steps = [r for r in records if "contrastive" in r]
    if not steps:
        raise SpeechmlError(f"{exp_dir}: no pretraining step logged")
    config = read_json(exp_dir / "model" / "config.json")
    size = config["num_codevector_groups"] * config["num_codevectors_per_group"]
    valid = [r["valid_loss"] for r in records if "valid_loss" in r]
    first, last = steps[0], steps[-1]
    return [
        label,
        last["step"],
        f"{first['contrastive']:.2f} -> {last['contrastive']:.2f}",
        f"{first['perplexity']:.1f} -> {last['perplexity']:.1f} of {size}",
        f"{last.get('grad_norm', float('nan')):.2f}",
        f"{valid[-1]:.2f}" if valid else "",
    ]


def cpt_summary(
    lang: str, systems: Mapping[str, Path], pretraining: Mapping[str, Path], test: str = "test"
) -> str:
    """The markdown section.

    Args:
        lang: the target language.
        systems: table label -> fine-tuning experiment dir, each scored in
            ``decode_<test>_<lang>``.
        pretraining: table label -> pretraining experiment dir.
        test: the name of the test set.
    """
    rows = []
    for label, exp_dir in systems.items():
        rates = read_rates(Path(exp_dir) / f"decode_{test}_{lang}")["all"]
        rows.append([label, f"{rates.wer:.2f}", f"{rates.cer:.2f}", rates.utts, exp_dir])
    diagnostics = [pretraining_row(label, Path(d)) for label, d in pretraining.items()]
    body = "\n".join(
        [
            f"CTC fine-tuning on the same labelled {lang} data and budget; greedy decoding of "
            f"`data/{test}_{lang}`.",
            "",
            markdown_table(["system", "WER %", "CER %", "utterances", "experiment"], rows),
            "",
            "Pretraining diagnostics (first -> last logged step):",
            "",
            markdown_table(
                [
                    "run",
                    "steps",
                    "contrastive loss",
                    "codebook perplexity",
                    "grad norm",
                    "valid loss",
                ],
                diagnostics,
            ),  # fmt: skip
            "",
        ]
    )
    heading = f"## wav2vec2 continued pretraining: {lang}"
    return f"{heading}\n\n{abbreviation_legend(body)}\n\n{body}"
