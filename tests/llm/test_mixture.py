"""The instruction mixture: tasks, languages, prompts in the right language, answers."""

from __future__ import annotations

from collections import Counter

import pytest

from speechml.data.datadir import DataDir
from speechml.errors import ConfigError, DataError
from speechml.llm.mixture import (
    MixtureConfig,
    PromptSet,
    build_mixture,
    read_examples,
    write_examples,
)
from speechml.llm.prompt import SPEECH_TOKEN

KAT_PROMPTS = PromptSet(
    locale="ka",
    asr=["ჩაწერე ნათქვამი."],
    lid=["რომელ ენაზეა?"],
    cls=["რა არის დასახელებული?"],
    qa=["დასახელებულია {label}? უპასუხე კი ან არა."],
    spoken=["შეასრულე მითითება."],
    yes="კი",
    no="არა",
    labels={"month": "თვე", "city": "ქალაქი"},
)


def corpus(tmp_path) -> DataDir:
    data = DataDir()
    items = {"eng": ("january", "paris"), "kat": ("იანვარი", "პარიზი")}
    for lang, (month, city) in items.items():
        for i in range(10):
            utt = f"{lang}-{i:02d}"
            data.wav_scp[utt] = f"/audio/{utt}.wav"
            data.text[utt] = month if i % 2 else city
            data.utt2spk[utt] = lang
            data.utt2lang[utt] = lang
            data.utt2label[utt] = "month" if i % 2 else "city"
    data.write(tmp_path / "train")
    return DataDir.read(tmp_path / "train")


def test_mixture_follows_weights_and_answers_in_the_prompt_language(tmp_path):
    config = MixtureConfig(
        language_weights={"eng": 1.0, "kat": 1.0},
        prompts={"kat": KAT_PROMPTS},
        native_prompt_ratio=0.5,
        examples=800,
    )
    examples = build_mixture(config, [corpus(tmp_path)])
    assert len(examples) == 800
    tasks = Counter(e.task for e in examples)
    assert tasks["asr"] > 2.5 * tasks["lid"] and min(tasks.values()) > 70  # 1 : .3 : .3 : .3 : .6
    assert 1.5 * tasks["lid"] < tasks["spoken"] < 2.5 * tasks["lid"]
    langs = Counter(e.lang for e in examples)
    assert 350 < langs["kat"] < 450
    assert all(e.instruction.startswith(f"{SPEECH_TOKEN}\n") for e in examples)
    assert {e.prompt_lang for e in examples if e.lang == "eng"} == {"eng"}
    kat_prompted = [e for e in examples if e.prompt_lang == "kat"]
    assert 0.35 < len(kat_prompted) / langs["kat"] < 0.65
    spoken = [e for e in examples if e.task == "spoken"]
    asks = Counter(e.asks for e in spoken)
    assert asks["asr"] > 2 * asks["lid"] and asks["lid"] > 10  # by the text tasks' weights
    english = ("Do what the recording asks first.", "Follow the spoken instruction.")
    for e in spoken:
        kat = e.prompt_lang == "kat"
        prompts = ("შეასრულე მითითება.",) if kat else english
        assert e.instruction in [f"{SPEECH_TOKEN}\n{prompt}" for prompt in prompts]
        voice, variant = e.voice.split("+")
        assert voice == ("ka" if kat else "en") and variant in config.spoken_variants
        if e.asks == "lid":
            assert e.spoken_instruction in ("რომელ ენაზეა?", "Which language is spoken?")
    assert {e.scored_as for e in spoken} == {"asr", "lid", "cls", "qa"}
    assert all(e.asks == "" and e.scored_as == e.task for e in examples if e.task != "spoken")
    for e in examples:
        if e.scored_as == "lid":
            expected = {("eng", "eng"): "English", ("kat", "eng"): "Georgian",
                        ("kat", "kat"): "ქართული"}[e.lang, e.prompt_lang]  # fmt: skip
            assert e.answer == expected
        if e.scored_as == "cls" and e.prompt_lang == "kat":
            assert e.answer in {"თვე", "ქალაქი"}
        if e.scored_as == "qa":
            assert e.answer in ({"კი", "არა"} if e.prompt_lang == "kat" else {"yes", "no"})
        if e.scored_as == "asr":
            assert e.answer in {"january", "paris", "იანვარი", "პარიზი"}
    qa = Counter(e.answer for e in examples if e.scored_as == "qa")
    assert min(qa["yes"] + qa["კი"], qa["no"] + qa["არა"]) > 0.3 * sum(qa.values())
    assert build_mixture(config, [corpus(tmp_path)]) == examples  # deterministic
    write_examples(examples, tmp_path / "mix")
    assert read_examples(tmp_path / "mix") == examples


def test_english_only_mixture_and_bad_configs(tmp_path):
    data = corpus(tmp_path)
    examples = build_mixture(MixtureConfig(examples=50), [data])
    assert {e.lang for e in examples} == {"eng"}
    with pytest.raises(ConfigError, match="without utterances"):
        build_mixture(MixtureConfig(language_weights={"rus": 1.0}), [data])
    with pytest.raises(ValueError, match="unknown tasks"):
        MixtureConfig(task_weights={"translate": 1.0})
    shipped = build_mixture(MixtureConfig(language_weights={"kat": 1.0}, examples=40), [data])
    assert {e.prompt_lang for e in shipped} == {"eng", "kat"}  # speechml ships kat prompts
    assert any(e.instruction.endswith("ჩაწერე, რა ითქვა.") for e in shipped)
    data.utt2label.pop("eng-03")
    only_cls = MixtureConfig(task_weights={"cls": 1.0}, examples=200)
    with pytest.raises(DataError, match="eng-03.*needs a label"):
        build_mixture(only_cls, [data])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "instructions.jsonl").write_text('{"utt": "x"}\n')
    with pytest.raises(DataError, match="instructions.jsonl:1"):
        read_examples(tmp_path / "bad")


def test_scores_per_task_language_and_prompt(tmp_path):
    from speechml.llm.evaluate import compare_systems, score_answers, write_report
    from speechml.llm.mixture import Example

    def example(task, lang, prompt, answer, asks=""):
        return Example("u", "d", lang, task, prompt, f"{SPEECH_TOKEN}\nq", answer, asks)

    examples = [
        example("asr", "kat", "eng", "იანვარი და მაისი"),
        example("asr", "kat", "eng", "პარიზი"),
        example("asr", "eng", "eng", "paris"),
        example("cls", "kat", "kat", "თვე"),
        example("cls", "kat", "kat", "ქალაქი"),
        example("qa", "eng", "eng", "yes"),
        example("spoken", "kat", "eng", "იანვარი და მაისი", asks="asr"),
        example("spoken", "eng", "eng", "no", asks="qa"),
    ]
    answers = ["იანვარი მაისი", "პარიზი", "no", "თვე.", "ქართული", "Yes", "მაისი", "yes"]
    rows = score_answers(examples, answers)
    by_task = {(r.task, r.lang, r.prompt_lang): r for r in rows}
    kat_asr = by_task["asr", "kat", "eng"]
    assert kat_asr.value == pytest.approx(100 * 1 / 4) and kat_asr.follows == 100.0  # 1 of 4
    assert by_task["asr", "eng", "eng"].follows == 0.0  # "no" answers another task
    cls = by_task["cls", "kat", "kat"]
    assert cls.value == 50.0 and cls.cer is None and cls.follows == 50.0  # ქართული: no class
    assert by_task["qa", "eng", "eng"].value == 100.0  # normalised: case and punctuation
    spoken_asr = by_task["spoken asr", "kat", "eng"]
    assert spoken_asr.metric == "WER %"  # the metric of the task asked
    assert spoken_asr.value == pytest.approx(100 * 2 / 3)  # 2 deletions
    spoken_qa = by_task["spoken qa", "eng", "eng"]
    assert spoken_qa.value == 0.0 and spoken_qa.follows == 100.0  # wrong, but yes or no
    assert [r.task for r in rows][-2:] == ["spoken asr", "spoken qa"]  # after the text tasks
    report = write_report(examples, answers, rows, tmp_path / "eval")
    assert "| asr | kat | eng | WER % | 25.00 | 10.00 | 100.0 | 2 |" in report.read_text()
    assert len((tmp_path / "eval" / "answers.jsonl").read_text().splitlines()) == 8
    summary = compare_systems("Toy", {"A": tmp_path / "eval"})
    assert summary.split("\n\n")[1] == (
        "Abbreviations: CER: character error rate (characters without spaces); "
        "WER: word error rate."
    )
    assert summary.split("\n\n")[2].startswith(
        "Tasks: `asr`: speech recognition (transcribe the utterance); `lid`: language "
        "identification (name its language); `cls`: classification (name its semantic class); "
        "`qa`: a yes/no question on its content; `spoken <task>`: the task asked by a spoken "
        "instruction."
    )
    assert "| task | language | prompt | metric | A | follows % |" in summary
    assert "| spoken qa | eng | eng | exact match % | 0.0 | 100 |" in summary
