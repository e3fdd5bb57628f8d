"""The instruction mixture: training examples for the audio LLM built from Kaldi data dirs.

Each example is one utterance's audio, an instruction (with the speech placeholder) in a prompt
language, and the answer. Tasks, by name (weights in :class:`MixtureConfig`):

- ``asr``: transcribe; the answer is the transcript.
- ``lid``: which language is spoken; the answer is the language's name in the prompt language
  (babel's CLDR names; the English name when the locale has none).
- ``cls``: which class the utterance's items belong to; the answer is the label, translated by
  the prompt set's ``labels`` when it has them.
- ``qa``: a yes/no question on the utterance's content ("Is a month mentioned?"): half the
  questions ask about the utterance's own class (yes), half about another class (no).
- ``spoken``: a spoken instruction. One of the tasks above (drawn by their weights; ``asks``)
  is asked in speech: espeak-ng reads its instruction (``spoken_instruction``, a voice of the
  prompt language with one of ``spoken_variants``) before the utterance, and the text prompt
  only says to follow what is asked in the recording. :func:`speechml.llm.spoken.render_spoken`
  writes that audio (instruction, a pause, the utterance) as a data dir.

Prompt sets are per prompt language (:class:`PromptSet`, ISO 639-3 keys), shipped in
``speechml/llm/prompt_sets/<iso>.yaml`` (eng, kat) or given in the config: an utterance of a
language that has a prompt set is asked in its own language with probability
``native_prompt_ratio``, else in English. Data languages are drawn by ``language_weights`` (an
English-only mixture: ``{eng: 1}``), tasks by ``task_weights``, utterances uniformly within
their language. Deterministic for a seed. The examples are written as ``instructions.jsonl``
(one JSON object a line: utt, data dir, lang, task, prompt_lang, instruction, answer, and for
spoken instructions asks, spoken_instruction and voice), which a person can read and grep.

Example:
    >>> examples = build_mixture(MixtureConfig(examples=20), [DataDir.read("data/train")])
    >>> len(examples)
    20
    >>> next(example.answer for example in examples if example.task == "asr")
    'hello number ...'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from babel import Locale, UnknownLocaleError

from speechml.config import from_dict, parse_yaml
from speechml.data.datadir import DataDir
from speechml.errors import ConfigError, DataError
from speechml.io import atomic_write_text
from speechml.lang.languages import check_language_code, language_name

#: Where an instruction holds the utterance's audio (the model puts its speech embeddings there).
SPEECH_TOKEN = "<speech>"
#: The tasks an instruction can ask; ``spoken`` asks one of them in speech.
TEXT_TASKS = ("asr", "lid", "cls", "qa")
TASKS = (*TEXT_TASKS, "spoken")
INSTRUCTIONS_FILE = "instructions.jsonl"


@dataclass
class PromptSet:
    """The instructions of one prompt language; ``{label}`` in ``qa`` is a class name."""

    locale: str  # babel locale of this language's language names (lid answers), e.g. "ka"
    asr: list[str]  # instructions to transcribe
    lid: list[str]  # questions for the language spoken
    cls: list[str]  # questions for the class of the named things
    qa: list[str]  # yes/no questions whether a {label} is named
    spoken: list[str]  # text prompts of spoken instructions: do what the recording asks
    yes: str  # the answer of a qa question about the utterance's own class
    no: str  # the answer of the other qa questions
    labels: dict[str, str] = field(default_factory=dict)  # class -> its name in this language
    voice: str = ""  # espeak-ng voice of the spoken instructions ("": the locale)

    def __post_init__(self) -> None:
        for task in TASKS:
            if not getattr(self, task):
                raise ValueError(f"the prompt set has no {task} instruction")
        if any("{label}" not in template for template in self.qa):
            raise ValueError("every qa instruction must hold {label}")


@dataclass
class MixtureConfig:
    """What the mixture holds and in which proportions."""

    task_weights: dict[str, float] = field(
        default_factory=lambda: {"asr": 1.0, "lid": 0.3, "cls": 0.3, "qa": 0.3, "spoken": 0.6}
    )  # relative frequency of each task
    language_weights: dict[str, float] = field(
        default_factory=lambda: {"eng": 1.0}
    )  # relative frequency of each data language (ISO 639-3)
    #: prompt language -> its instructions, replacing or adding to those shipped with speechml
    #: (speechml/llm/prompt_sets/<iso>.yaml)
    prompts: dict[str, PromptSet] = field(default_factory=dict)
    native_prompt_ratio: float = 0.5  # share of a language's examples asked in that language
    #: espeak-ng voice variants reading the spoken instructions, one drawn per example (the
    #: recipe gives dev and test variants of their own)
    spoken_variants: list[str] = field(default_factory=lambda: ["m1", "m3", "f1", "f3"])
    spoken_speed: int = 165  # words per minute of the spoken instructions
    examples: int = 2000  # examples in the mixture
    seed: int = 0  # seed of every draw

    def __post_init__(self) -> None:
        unknown = sorted(set(self.task_weights) - set(TASKS))
        if unknown:
            raise ValueError(f"unknown tasks {unknown} (known: {', '.join(TASKS)})")
        weights = [*self.task_weights.values(), *self.language_weights.values()]
        if any(w < 0 for w in weights) or not any(self.task_weights.values()):
            raise ValueError("weights must be >= 0 and some task weight > 0")
        if not any(self.language_weights.values()):
            raise ValueError("some language weight must be > 0")
        if not 0.0 <= self.native_prompt_ratio <= 1.0 or self.examples < 1:
            raise ValueError("native_prompt_ratio must be in [0, 1] and examples >= 1")
        if not self.spoken_variants or self.spoken_speed < 80:
            raise ValueError("spoken_variants must name a variant and spoken_speed be >= 80")


@dataclass(frozen=True)
class Example:
    """One instruction-tuning example."""

    utt: str
    data_dir: str  # the data dir the utterance's audio is read from
    lang: str  # the utterance's language
    task: str
    prompt_lang: str  # the language of the instruction and answer
    instruction: str  # with the speech placeholder
    answer: str
    asks: str = ""  # spoken only: the task the spoken instruction asks
    spoken_instruction: str = ""  # spoken only: what espeak-ng says before the utterance
    voice: str = ""  # spoken only: the espeak-ng voice saying it, e.g. ka+m3

    @property
    def scored_as(self) -> str:
        """The task whose metric scores the answer (a spoken instruction's ``asks``)."""
        return self.asks or self.task


def spoken_language_name(code: str, locale: str) -> str:
    """The name of the language ``code`` in ``locale`` (babel), else its English name."""
    try:
        alpha2 = Locale.parse(code).language
        name = Locale.parse(locale).languages.get(alpha2)
    except (UnknownLocaleError, ValueError):
        name = None
    return name or language_name(code)


def _ask(
    task: str,
    prompts: PromptSet,
    rng: np.random.Generator,
    text: str,
    lang: str,
    label: str,
    classes: Sequence[str],
) -> tuple[str, str]:
    """A text task's (instruction, answer) in the language of ``prompts``."""
    if task == "qa":
        others = [c for c in classes if c != label]
        asked = label if rng.random() < 0.5 or not others else others[rng.integers(len(others))]
        template = prompts.qa[rng.integers(len(prompts.qa))]
        instruction = template.format(label=prompts.labels.get(asked, asked))
        return instruction, prompts.yes if asked == label else prompts.no
    templates = getattr(prompts, task)
    instruction = templates[rng.integers(len(templates))]
    if task == "asr":
        return instruction, text
    if task == "lid":
        return instruction, spoken_language_name(lang, prompts.locale)
    if task == "cls":
        return instruction, prompts.labels.get(label, label)
    raise ValueError(task)


def shipped_prompt_set(lang: str) -> PromptSet | None:
    """The prompt set speechml ships for ``lang`` (``prompt_sets/<lang>.yaml``), if any."""
    path = resources.files("speechml.llm") / "prompt_sets" / f"{lang}.yaml"
    if not path.is_file():
        return None
    return from_dict(PromptSet, parse_yaml(path.read_text(encoding="utf-8"), str(path)), str(path))


def prompt_sets(config: MixtureConfig, langs: Sequence[str]) -> dict[str, PromptSet]:
    """The prompt set of English and of each of ``langs`` that has one (config before shipped)."""
    found = {}
    for lang in dict.fromkeys(["eng", *langs]):
        prompts = config.prompts.get(lang) or shipped_prompt_set(lang)
        if prompts is not None:
            found[lang] = prompts
    return found


def _probabilities(weights: list[float]) -> np.ndarray:
    return np.array(weights) / sum(weights)


def build_mixture(config: MixtureConfig, data_dirs: Sequence[DataDir]) -> list[Example]:
    """Draw ``config.examples`` examples from the utterances of ``data_dirs`` (read from disk).

    Raises:
        ConfigError: if a weighted language has no utterance, or a language code is not ISO
            639-3.
        DataError: naming the utterance, if a cls or qa example's utterance has no label.
    """
    rng = np.random.default_rng(config.seed)
    utts: dict[str, list[tuple[DataDir, str]]] = {}
    for data in data_dirs:
        for utt in sorted(data.text):
            utts.setdefault(data.utt2lang.get(utt, ""), []).append((data, utt))
    langs = [lang for lang, w in config.language_weights.items() if w > 0]
    for lang in [*langs, *config.prompts]:
        check_language_code(lang)
    prompts_of = prompt_sets(config, langs)
    missing = [lang for lang in langs if not utts.get(lang)]
    if missing:
        raise ConfigError(f"language_weights names languages without utterances: {missing}")
    tasks = [task for task, w in config.task_weights.items() if w > 0]
    task_p = _probabilities([config.task_weights[task] for task in tasks])
    asked = [task for task in TEXT_TASKS if config.task_weights.get(task, 0) > 0] or TEXT_TASKS
    asked_p = _probabilities([config.task_weights.get(task, 0) or 1.0 for task in asked])
    lang_p = _probabilities([config.language_weights[lang] for lang in langs])
    classes = sorted({label for data in data_dirs for label in data.utt2label.values()})
    examples = []
    for _ in range(config.examples):
        lang = langs[rng.choice(len(langs), p=lang_p)]
        task = tasks[rng.choice(len(tasks), p=task_p)]
        data, utt = utts[lang][rng.integers(len(utts[lang]))]
        native = lang in prompts_of and rng.random() < config.native_prompt_ratio
        prompt_lang = lang if native else "eng"
        prompts = prompts_of[prompt_lang]
        asks = asked[rng.choice(len(asked), p=asked_p)] if task == "spoken" else task
        label = data.utt2label.get(utt)
        if asks in ("cls", "qa") and label is None:
            raise DataError(f"a {asks} example needs a label (utt2label)", utt=utt)
        instruction, answer = _ask(asks, prompts, rng, data.text[utt], lang, label or "", classes)
        spoken = {}
        if task == "spoken":
            variant = config.spoken_variants[rng.integers(len(config.spoken_variants))]
            spoken = {
                "asks": asks,
                "spoken_instruction": instruction,
                "voice": f"{prompts.voice or prompts.locale}+{variant}",
            }
            instruction = prompts.spoken[rng.integers(len(prompts.spoken))]
        examples.append(
            Example(utt, str(data.path), lang, task, prompt_lang,
                    f"{SPEECH_TOKEN}\n{instruction}", answer, **spoken)
        )  # fmt: skip
    return examples


def write_examples(examples: Sequence[Example], directory: str | Path) -> Path:
    """Write ``instructions.jsonl`` into ``directory`` (atomically)."""
    path = Path(directory) / INSTRUCTIONS_FILE
    lines = [json.dumps(asdict(example), ensure_ascii=False) for example in examples]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def read_examples(directory: str | Path) -> list[Example]:
    """Read ``instructions.jsonl``.

    Raises:
        DataError: naming the file and line of a malformed entry.
    """
    path = Path(directory) / INSTRUCTIONS_FILE
    if not path.is_file():
        raise DataError("instruction file not found", path=path)
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            examples.append(Example(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as err:
            raise DataError(f"not an instruction example: {err}", path=path, line=number) from None
    return examples
