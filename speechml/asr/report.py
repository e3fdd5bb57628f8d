"""The summary of an adapter (LDA) experiment, as a markdown section for ``RESULTS.md``.

It reads the score files the recipe wrote (``<system>/decode_test*/score.json``), the adapter's
``adapter_config.json`` and the pseudo-label reports, and answers the recipe's questions: does
the adapter lower the tail language's WER against the base, how does it compare with full
fine-tuning on the same data and budget, how large is it, and do the other languages decode
exactly as before with their adapters off.

Example:
    >>> text = lda_summary("kat", "exp/base", "exp/lda_kat", "exp/lda_merged",
    ...                    "exp/finetune_kat")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path

from safetensors import safe_open

from speechml.asr.adapters import BASE_WEIGHTS, read_adapter_config
from speechml.asr.pseudo_label import REPORT_FILE
from speechml.score.rates import read_rates


def parameter_count(model_dir: Path) -> int:
    """Parameters in a model directory's base weights (read from the safetensors header)."""
    with safe_open(str(model_dir / BASE_WEIGHTS), framework="pt") as weights:
        total = 0
        for key in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
            total += math.prod(weights.get_slice(key).get_shape())
    return total


def _relative(new: float, old: float) -> str:
    return "" if old == 0 else f"{100 * (old - new) / old:+.1f}%"


def _pseudo_label_lines(dirs: list[Path]) -> list[str]:
    """One line per pseudo-label data dir: the summary line of its report."""
    lines = []
    for directory in dirs:
        summary = (directory / REPORT_FILE).read_text(encoding="utf-8").splitlines()[0]
        lines.append(f"- pseudo-labels `{directory}`: {summary.lstrip('# ')}")
    return lines


def lda_summary(
    lang: str,
    base: str | Path,
    lda: str | Path,
    merged: str | Path,
    finetune: str | Path,
    pseudo_label_dirs: list[Path] | None = None,
) -> str:
    """The markdown section of an LDA run (see the module docstring).

    Args:
        lang: the tail language.
        base, lda, merged, finetune: experiment dirs of the base, the adapter run, the merged
            model and full fine-tuning; each decoded ``data/test`` into ``decode_test`` (and the
            base and merged ones ``data/test_<lang>`` into ``decode_test_<lang>_streaming``)
            and scored it.
        pseudo_label_dirs: pseudo-label data dirs whose reports are summarised.
    """
    base, lda, merged, finetune = Path(base), Path(lda), Path(merged), Path(finetune)
    adapter = read_adapter_config(lda / "adapter")
    total = parameter_count(base / "model")
    greedy = {
        name: read_rates(path / "decode_test")
        for name, path in (("base", base), ("lda", merged), ("finetune", finetune))
    }
    streaming = {
        name: read_rates(path / f"decode_test_{lang}_streaming")
        for name, path in (("base", base), ("lda", merged))
    }
    tail = {name: rates[lang] for name, rates in greedy.items()}
    others = sorted(k for k in greedy["base"] if k not in ("all", lang))

    def mean_wer(name: str) -> float:
        return sum(greedy[name][k].wer for k in others) / max(1, len(others))

    rows = [
        ("base (frozen, multilingual)", "base", total, "0"),
        (
            "LDA: base + adapter (merged model)",
            "lda",
            adapter["num_parameters"],
            f"{adapter['percent_of_model']:.2f}%",
        ),
        ("full fine-tuning (same data and steps)", "finetune", total, "100%"),
    ]
    out = [
        f"## Language-dependent adapter: {lang} (tail language)",
        "",
        f"Test set `data/test`, utterances of {lang}: {tail['base'].utts}. Greedy search on the "
        "causal (streaming) pass with full-utterance input; `streaming` feeds features chunk by "
        "chunk through the cached encoder. Other languages: mean WER over "
        f"{', '.join(others)}.",
        "",
        f"| system | {lang} WER % | {lang} CER % | rel. WER vs base | {lang} WER % streaming "
        "| other languages WER % | parameters trained | share of the model |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, name, trained, share in rows:
        stream = f"{streaming[name][lang].wer:.2f}" if name in streaming else ""
        out.append(
            f"| {label} | {tail[name].wer:.2f} | {tail[name].cer:.2f} | "
            f"{'' if name == 'base' else _relative(tail[name].wer, tail['base'].wer)} | {stream} "
            f"| {mean_wer(name):.2f} | {trained:,} | {share} |"
        )
    out += [
        "",
        "Other languages, WER % (the merged model runs them with their adapters off):",
        "",
        "| language | base | merged (adapters off) | full fine-tuning |",
        "|---|---|---|---|",
    ]
    for code in others:
        out.append(
            f"| {code} | {greedy['base'][code].wer:.2f} | {greedy['lda'][code].wer:.2f} | "
            f"{greedy['finetune'][code].wer:.2f} |"
        )
    unchanged = all(greedy["base"][k] == greedy["lda"][k] for k in others)
    out += [
        "",
        f"- adapter: {adapter['num_parameters']:,} parameters, "
        f"{adapter['percent_of_model']:.2f}% of the {total:,}-parameter model "
        f"(bottleneck {adapter['bottleneck_dim']}, base fingerprint "
        f"`{adapter['base_model_fingerprint'][:12]}`)",
        "- other languages through the merged model: "
        + ("identical to the base" if unchanged else "**differ from the base**"),
        *_pseudo_label_lines([Path(d) for d in pseudo_label_dirs or []]),
        "",
    ]
    return "\n".join(out)
