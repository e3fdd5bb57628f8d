"""The summary of an adapter (LDA) experiment, as a markdown section for ``RESULTS.md``.

It reads the score files the recipe wrote (``<system>/decode_test*/score.json``), the adapter's
``adapter_config.json`` and the pseudo-label reports, and answers the recipe's questions: does
the adapter lower the tail language's WER against the base, how does it compare with full
fine-tuning on the same data and budget, how large is it, and do the other languages decode
exactly as before with their adapters off. With several tail languages (one adapter run,
:func:`~speechml.asr.train.train_adapters`) it has one row per language plus their mean, each
language's best step read from the run's ``best_steps.json``.

Example:
    >>> text = lda_summary("kat", "exp/base", "exp/lda_kat", "exp/lda_merged",
    ...                    "exp/finetune_kat")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from safetensors import safe_open

from speechml.asr.adapters import BASE_WEIGHTS, BEST_STEPS, read_adapter_config
from speechml.asr.pseudo_label import REPORT_FILE
from speechml.config import read_json
from speechml.data.table import read_table
from speechml.errors import SpeechmlError
from speechml.markdown import abbreviation_legend
from speechml.score.decode_dir import read_transcripts, transcripts_path
from speechml.score.rates import Rates, read_rates

#: what the recipe's ``asr confidence-report`` of each noisy-student iteration writes in its run
CONFIDENCE_REPORT = "confidence_report.txt"


def parameter_count(model_dir: Path) -> int:
    """Parameters in a model directory's base weights (read from the safetensors header)."""
    with safe_open(str(model_dir / BASE_WEIGHTS), framework="pt") as weights:
        total = 0
        for key in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
            total += math.prod(weights.get_slice(key).get_shape())
    return total


def _pseudo_label_lines(dirs: list[Path]) -> list[str]:
    """One line per pseudo-label data dir: the summary line of its report."""
    lines = []
    for directory in dirs:
        summary = (directory / REPORT_FILE).read_text(encoding="utf-8").splitlines()[0]
        lines.append(f"- pseudo-labels `{directory}`: {summary.lstrip('# ')}")
    return lines


def _adapter_dir(lda: Path, lang: str) -> Path:
    """The adapter of ``lang``: ``adapters/<lang>`` of a multi-language run, else ``adapter``."""
    multi = lda / "adapters" / lang
    return multi if multi.is_dir() else lda / "adapter"


def _best_steps(lda: Path) -> dict[str, int]:
    """Language -> best step from a multi-language run's ``best_steps.json`` (else empty)."""
    path = lda / BEST_STEPS
    return {k: int(v["step"]) for k, v in read_json(path).items()} if path.is_file() else {}


def _confidence_lines(run_dirs: list[Path]) -> list[str]:
    """One line per noisy-student iteration: how its teacher's confidence predicted errors."""
    lines = []
    for number, run in enumerate(run_dirs, 1):
        path = run / CONFIDENCE_REPORT
        if path.is_file():
            text = "; ".join(path.read_text(encoding="utf-8").lstrip("# ").splitlines())
            lines.append(f"- iteration {number}, the teacher on `data/dev_tail`: {text}")
    return lines


def _iteration_table(
    langs: list[str], base: dict[str, Rates], iterations: list[Path], last: dict[str, Rates]
) -> list[str]:
    """Test WER of each tail language after each noisy-student iteration, and each one's gain."""
    runs = [read_rates(run / "decode_test_tail") for run in iterations] + [last]
    names = [f"iteration {i}" for i in range(1, len(runs) + 1)]
    out = [
        "",
        "Noisy student: test WER % of each tail language after each iteration (in brackets the "
        "relative WER reduction over the step before; the last iteration is the merged model):",
        "",
        f"| tail language | base | {' | '.join(names)} |",
        "|---|---|" + "---|" * len(names),
    ]
    for lang in langs:
        cells, before = [_number(base[lang].wer)], base[lang].wer
        for run in runs:
            after = run[lang].wer
            known = before and after is not None
            cells.append(
                _number(after) + (f" ({100 * (before - after) / before:+.1f}%)" if known else "")
            )
            before = after
        out.append(f"| {lang} | {' | '.join(cells)} |")
    return out


def _head_hypotheses(system: Path, heads: list[str]) -> dict[str, str] | None:
    """The hypotheses of ``system/decode_test`` for the head languages' utterances; None when the
    decode dir does not name the data dir it was scored on (so the languages are not known)."""
    decode = system / "decode_test"
    data_dir = read_json(decode / "score.json").get("data_dir")
    if not data_dir or not transcripts_path(decode).is_file():
        return None
    utt2lang = read_table(Path(data_dir) / "utt2lang")
    return {u: h for u, h in read_transcripts(decode).items() if utt2lang.get(u) in heads}


def _heads_verdict(base: Path, merged: Path, heads: list[str], same_rates: bool) -> str:
    """Whether the merged model decodes the head languages as the base: hypothesis for
    hypothesis where the decode dirs allow, else by their WER and CER."""
    before, after = _head_hypotheses(base, heads), _head_hypotheses(merged, heads)
    if before is None or after is None:
        return "identical to the base (WER and CER)" if same_rates else "**differ from the base**"
    if before == after:
        return f"identical to the base (the same hypothesis for each of {len(before)} utterances)"
    changed = sum(before.get(u) != h for u, h in after.items())
    return f"**differ from the base** ({changed} of {len(after)} hypotheses changed)"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def lda_summary(
    langs: str | Sequence[str],
    base: str | Path,
    lda: str | Path,
    merged: str | Path,
    finetune: str | Path | Sequence[str | Path],
    pseudo_label_dirs: list[Path] | None = None,
    iterations: Sequence[str | Path] = (),
) -> str:
    """The markdown section of an LDA run (see the module docstring): one row per tail
    language plus their mean, then the head languages through the merged model.

    Args:
        langs: the tail language(s) (a code, or several).
        base, lda, merged: experiment dirs of the base, the adapter run (``adapter/`` of a
            one-language run, or ``adapters/<lang>/`` and ``best_steps.json`` of
            :func:`~speechml.asr.train.train_adapters`) and the merged model.
        finetune: the experiment dir of full fine-tuning, or one per tail language (in the
            order of ``langs``).
        pseudo_label_dirs: pseudo-label data dirs whose reports are summarised.
        iterations: the adapter runs of the noisy-student iterations before the last (``lda``),
            each with the tail languages' test set decoded into ``decode_test_tail``; each run's
            (and ``lda``'s) ``confidence_report.txt`` is quoted where present.

    Each system decoded ``data/test`` into ``decode_test`` and scored it; a
    ``decode_test_<lang>_streaming`` of the base and the merged model, where present, gives
    the streaming columns, and their ``decode_test_full`` the full-context columns.
    """
    langs = [langs] if isinstance(langs, str) else list(langs)
    finetunes = [finetune] if isinstance(finetune, (str, Path)) else list(finetune)
    if len(finetunes) not in (1, len(langs)):
        raise SpeechmlError(
            f"{len(finetunes)} fine-tuning dirs for {len(langs)} tail languages: give one, "
            "or one per language"
        )
    if len(finetunes) == 1:
        finetunes = finetunes * len(langs)
    finetune_of = dict(zip(langs, finetunes, strict=True))
    base, lda, merged = Path(base), Path(lda), Path(merged)
    total = parameter_count(base / "model")
    rates = {"base": read_rates(base / "decode_test"), "lda": read_rates(merged / "decode_test")}
    tuned = {d: read_rates(Path(d) / "decode_test") for d in dict.fromkeys(finetunes)}
    steps = _best_steps(lda)

    def wer_in(system: Path, decode: str, lang: str) -> float | None:
        path = system / decode
        return read_rates(path)[lang].wer if (path / "score.json").is_file() else None

    title = "adapter" if len(langs) == 1 else "adapters"
    heading = [
        f"## Language-dependent {title}: {', '.join(langs)} (tail language"
        f"{'' if len(langs) == 1 else 's'})",
        "",
        "Test set `data/test`; greedy search on the causal (streaming) pass with "
        "full-utterance input; `streaming` feeds features chunk by chunk through the cached "
        "encoder. LDA: the merged model (base + each language's adapter, from that language's "
        "best dev step); full FT: the base fine-tuned whole on the same data and steps.",
    ]
    out = [
        "",
        "| tail language | utts | base WER % | base CER % | LDA WER % | LDA CER % "
        "| rel. WER reduction | full FT WER % | full FT CER % | best step "
        "| adapter parameters | share of the model | base WER % streaming "
        "| LDA WER % streaming | base WER % full context | LDA WER % full context |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    columns: list[list[float | None]] = []
    adapters = {}
    for lang in langs:
        adapters[lang] = read_adapter_config(_adapter_dir(lda, lang))
        b, a = rates["base"][lang], rates["lda"][lang]
        f = tuned[finetune_of[lang]][lang]
        reduction = None if not b.wer else 100 * (b.wer - a.wer) / b.wer
        row = [b.wer, b.cer, a.wer, a.cer, reduction, f.wer, f.cer]
        streaming = f"decode_test_{lang}_streaming"
        row += [wer_in(base, streaming, lang), wer_in(merged, streaming, lang)]
        row += [wer_in(base, "decode_test_full", lang), wer_in(merged, "decode_test_full", lang)]
        columns.append(row)
        step = steps.get(lang, adapters[lang].get("best_step"))
        cells = [_number(v) for v in row[:7]]
        cells[4] = "" if reduction is None else f"{reduction:+.1f}%"
        out.append(
            f"| {lang} | {b.utts} | {' | '.join(cells)} | {'' if step is None else step} "
            f"| {adapters[lang]['num_parameters']:,} | {adapters[lang]['percent_of_model']:.2f}% "
            f"| {' | '.join(_number(v) for v in row[7:])} |"
        )
    if len(langs) > 1:
        means = [_mean([row[i] for row in columns]) for i in range(11)]
        cells = [_number(v) for v in means[:7]]
        cells[4] = "" if means[4] is None else f"{means[4]:+.1f}%"
        share = _mean([adapters[lang]["percent_of_model"] for lang in langs])
        params = _mean([adapters[lang]["num_parameters"] for lang in langs])
        out.append(
            f"| **mean** | | {' | '.join(cells)} | | {params:,.0f} | {share:.2f}% "
            f"| {' | '.join(_number(v) for v in means[7:])} |"
        )
    if iterations:
        out += _iteration_table(langs, rates["base"], [Path(d) for d in iterations], rates["lda"])
    heads = sorted(k for k in rates["base"] if k not in ("all", *langs))
    distinct = list(dict.fromkeys(finetunes))
    tuned_names = [f"full FT {lang}" for lang in langs] if len(distinct) > 1 else ["full FT"]
    out += [
        "",
        "Head languages, WER % (the merged model runs them with every adapter off):",
        "",
        f"| language | base | merged (adapters off) | {' | '.join(tuned_names)} |",
        "|---|---|---|" + "---|" * len(tuned_names),
    ]
    for code in heads:
        tuned_cells = " | ".join(_number(tuned[d][code].wer) for d in distinct)
        out.append(
            f"| {code} | {rates['base'][code].wer:.2f} | {rates['lda'][code].wer:.2f} | "
            f"{tuned_cells} |"
        )
    same_rates = all(rates["base"][k] == rates["lda"][k] for k in heads)
    verdict = _heads_verdict(base, merged, heads, same_rates)
    first = adapters[langs[0]]
    out += [
        "",
        f"- adapters: bottleneck {first['bottleneck_dim']}"
        f"{', joiner bias' if first.get('joiner_bias') else ''}"
        f"{f', joiner LoRA rank {r}' if (r := first.get('joiner_lora_rank')) else ''}; "
        f"{total:,}-parameter base (fingerprint `{first['base_model_fingerprint'][:12]}`)",
        f"- head languages through the merged model: {verdict}",
        *_pseudo_label_lines([Path(d) for d in pseudo_label_dirs or []]),
        *_confidence_lines([*(Path(d) for d in iterations), lda]),
        "",
    ]
    legend = abbreviation_legend("\n".join(heading + out))
    return "\n".join([*heading, "", legend, *out])
