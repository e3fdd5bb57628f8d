"""Evaluation of the audio LLM per task and language: one report.

The model answers every example of an instruction set (greedy decoding); each group of (task,
utterance language, prompt language) is scored with the task's metric:

- ``asr``: WER and CER against the transcript (:func:`speechml.score.wer.score_wer`, the
  scoring normalisation);
- ``lid``, ``cls``: accuracy of the normalised answer;
- ``qa``: exact match of the normalised answer;
- a spoken instruction: the metric of the task it asks, in rows of their own (``spoken asr``,
  ``spoken lid``...).

Every row also gives ``follows``: the share of answers of the kind the instruction asks for,
right or wrong (instruction following apart from the content): a language name for ``lid``, a
class name for ``cls``, yes or no for ``qa`` (the answers those tasks have anywhere in the
evaluated set, in the prompt's language), and for ``asr`` any other non-empty text.

:func:`answer_examples` generates the answers, :func:`score_answers` scores them and
:func:`write_report` writes ``answers.jsonl`` (every example with the model's answer),
``task_report.json`` and ``task_report.md`` (one table); :func:`compare_systems` sets several
systems' reports side by side (the recipe's summary).

Example:
    >>> from speechml.config import load_config
    >>> from speechml.data.datadir import DataDir
    >>> from speechml.llm.mixture import read_examples
    >>> from speechml.llm.train import AudioLlmConfig, build_audio_llm
    >>> model = build_audio_llm(load_config(AudioLlmConfig, "conf/llm.yaml"), "exp/llm_lm/model",
    ...                         "exp/base/model", DataDir.read("data/train"))  # untrained
    >>> examples = read_examples("data/llm_test")
    >>> answers = answer_examples(model, examples, max_new_tokens=4)
    >>> rows = score_answers(examples, answers)
    >>> write_report(examples, answers, rows, "exp/x/eval")
    PosixPath('exp/x/eval/task_report.md')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from speechml.errors import SpeechmlError
from speechml.io import atomic_write_text
from speechml.lang.normalize import TextNormalizer
from speechml.llm.data import InstructionCollator, InstructionDataset
from speechml.llm.mixture import Example
from speechml.llm.model import AudioLlm
from speechml.markdown import abbreviation_legend, markdown_table
from speechml.progress import progress_bar
from speechml.score.wer import score_wer

REPORT_JSON = "task_report.json"
METRICS = {"asr": "WER %", "lid": "accuracy %", "cls": "accuracy %", "qa": "exact match %"}
#: task -> what it asks, for the legend of the summary
TASK_NAMES = {
    "asr": "speech recognition (transcribe the utterance)",
    "lid": "language identification (name its language)",
    "cls": "classification (name its semantic class)",
    "qa": "a yes/no question on its content",
}
TASK_ORDER = list(METRICS)


def report_task(example: Example) -> str:
    """The report's task name: the task, or ``spoken <task>`` for a spoken instruction."""
    return f"spoken {example.asks}" if example.asks else example.task


def _task_rank(task: str) -> tuple[bool, int]:
    """Text tasks first, then the spoken ones, each in TASK_ORDER."""
    return task.startswith("spoken "), TASK_ORDER.index(task.split()[-1])


@dataclass(frozen=True)
class TaskScore:
    """One (task, language, prompt language) group's score."""

    task: str
    lang: str
    prompt_lang: str
    metric: str  # what ``value`` is (METRICS)
    value: float  # percent
    cer: float | None  # asr only: CER %
    examples: int
    follows: float | None = None  # % answers of the kind asked (None in older reports)


def answer_kinds(examples: Sequence[Example]) -> dict[tuple[str, str], set[str]]:
    """The normalised answers of each (task, prompt language) but ASR: what each kind is."""
    normalize = TextNormalizer()
    kinds: dict[tuple[str, str], set[str]] = {}
    for example in examples:
        if example.scored_as != "asr":
            key = (example.scored_as, example.prompt_lang)
            kinds.setdefault(key, set()).add(normalize(example.answer))
    return kinds


def follows_instruction(
    answer: str, task: str, prompt_lang: str, kinds: dict[tuple[str, str], set[str]]
) -> bool:
    """Whether the normalised ``answer`` is of the kind ``task`` asks for.

    The kinds are :func:`answer_kinds`; a transcript is any non-empty text that is no other
    task's answer.
    """
    if task != "asr":
        return answer in kinds.get((task, prompt_lang), set())
    others = (kind for (other, lang), kind in kinds.items() if lang == prompt_lang)
    return bool(answer) and not any(answer in kind for kind in others)


def answer_examples(
    model: AudioLlm,
    examples: Sequence[Example],
    system: str = "",
    batch_size: int = 16,
    max_new_tokens: int = 32,
) -> list[str]:
    """The model's greedy answer to each example (audio + instruction), in order."""
    dataset = InstructionDataset(
        examples, model.encoder, model.tokenizer, system, with_answers=False
    )
    collate = InstructionCollator(model.encoder.collate, model.tokenizer.pad_token_id)
    device = next(model.parameters()).device
    model.eval()
    answers: list[str] = []
    for start in progress_bar(range(0, len(dataset), batch_size), desc="answer", unit="batch"):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        moved = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        with torch.no_grad():
            answers.extend(model.generate(**moved, max_new_tokens=max_new_tokens))
    return answers


def score_answers(examples: Sequence[Example], answers: Sequence[str]) -> list[TaskScore]:
    """The score of every (task, language, prompt language) group, text tasks first."""
    normalize = TextNormalizer()
    said = [normalize(answer) for answer in answers]
    kinds = answer_kinds(examples)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, example in enumerate(examples):
        key = (report_task(example), example.lang, example.prompt_lang)
        groups.setdefault(key, []).append(i)
    rows = []
    ordered = sorted(groups.items(), key=lambda kv: (_task_rank(kv[0][0]), kv[0][1:]))
    for (task, lang, prompt_lang), members in ordered:
        scored_as = examples[members[0]].scored_as
        if scored_as == "asr":
            refs = {f"{i}": examples[i].answer for i in members}
            hyps = {f"{i}": answers[i] for i in members}
            report = score_wer(refs, hyps)
            value, cer = report.total.words.rate, report.total.chars.rate
        else:
            hits = [said[i] == normalize(examples[i].answer) for i in members]
            value, cer = 100.0 * sum(hits) / len(hits), None
        kind = [follows_instruction(said[i], scored_as, prompt_lang, kinds) for i in members]
        follows = 100.0 * sum(kind) / len(kind)
        rows.append(
            TaskScore(
                task, lang, prompt_lang, METRICS[scored_as], value, cer, len(members), follows
            )
        )
    return rows


def write_report(
    examples: Sequence[Example], answers: Sequence[str], rows: Sequence[TaskScore], out: str | Path
) -> Path:
    """Write ``answers.jsonl``, ``task_report.json`` and ``.md`` into ``out``; returns the md."""
    out = Path(out)
    lines = [
        json.dumps({**asdict(example), "output": answer}, ensure_ascii=False)
        for example, answer in zip(examples, answers, strict=True)
    ]
    atomic_write_text(out / "answers.jsonl", "\n".join(lines) + "\n")
    atomic_write_text(out / REPORT_JSON, json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    table = markdown_table(
        ["task", "language", "prompt", "metric", "value", "CER %", "follows %", "examples"],
        [
            [r.task, r.lang, r.prompt_lang, r.metric, f"{r.value:.2f}",
             "" if r.cer is None else f"{r.cer:.2f}",
             "" if r.follows is None else f"{r.follows:.1f}", str(r.examples)]
            for r in rows
        ],
    )  # fmt: skip
    atomic_write_text(out / "task_report.md", table + "\n")
    return out / "task_report.md"


def read_scores(eval_dir: str | Path) -> list[TaskScore]:
    """The rows of an evaluation dir's ``task_report.json``.

    Raises:
        SpeechmlError: if the file is missing or malformed (naming it).
    """
    path = Path(eval_dir) / REPORT_JSON
    if not path.is_file():
        raise SpeechmlError(f"{path}: not found (run `speechml llm evaluate` first)")
    try:
        return [TaskScore(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
    except (json.JSONDecodeError, TypeError) as err:
        raise SpeechmlError(f"{path}: not a task report: {err}") from None


def compare_systems(title: str, systems: dict[str, Path]) -> str:
    """A markdown section: one row a (task, language, prompt language), one column a system."""
    scores = {
        name: {(r.task, r.lang, r.prompt_lang): r for r in read_scores(d)}
        for name, d in systems.items()
    }
    keys = sorted(
        {key for rows in scores.values() for key in rows},
        key=lambda k: (_task_rank(k[0]), k[1], k[2]),
    )
    body = []
    for task, lang, prompt in keys:
        cells = []
        for rows in scores.values():
            row = rows.get((task, lang, prompt))
            if row is None:
                cells += ["-", "-"]
                continue
            cer = "" if row.cer is None else f" ({row.cer:.1f})"
            cells += [f"{row.value:.1f}{cer}", "-" if row.follows is None else f"{row.follows:.0f}"]
        body.append([task, lang, prompt, METRICS[task.split()[-1]], *cells])
    header = [column for name in systems for column in (name, "follows %")]
    table = markdown_table(["task", "language", "prompt", "metric", *header], body)
    tasks = "; ".join(f"`{task}`: {text}" for task, text in TASK_NAMES.items())
    note = (
        f"Tasks: {tasks}; `spoken <task>`: the task asked by a spoken instruction. `language`: "
        "the utterance's, `prompt`: the instruction's. WER cells give the CER in brackets; every"
        " other metric is higher-is-better. `follows %`: the answers of the kind asked (a"
        " language name, a class, yes/no, a transcript), right or wrong."
    )
    experiments = ", ".join(f"{name}: `{path}`" for name, path in systems.items())
    legend = abbreviation_legend(f"{title}\n{note}\n{table}")
    return f"## {title}\n\n{legend}\n\n{note} Evaluation dirs: {experiments}.\n\n{table}\n"
