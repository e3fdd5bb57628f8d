"""The LDA summary: numbers from the score files, relative WER, changed languages flagged."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from speechml.asr.adapters import PEFT_TYPE
from speechml.asr.report import lda_summary, parameter_count
from speechml.errors import SpeechmlError
from speechml.score.trn import write_trn
from speechml.score.wer import score_wer

REFS = {"kat-1": "ა ბ გ დ", "eng-1": "one two three four", "rus-1": "раз два три"}
UTT2LANG = {"kat-1": "kat", "eng-1": "eng", "rus-1": "rus"}


def write_scores(decode_dir, hyps):
    decode_dir.mkdir(parents=True)
    record = score_wer(REFS, hyps, utt2lang=UTT2LANG).to_dict()
    (decode_dir / "score.json").write_text(json.dumps(record))


def test_summary_reads_scores_and_flags_changed_languages(tmp_path):
    (tmp_path / "base" / "model").mkdir(parents=True)
    save_file(
        {"a": torch.zeros(10, 10), "b": torch.zeros(5)},
        str(tmp_path / "base/model/model.safetensors"),
    )
    assert parameter_count(tmp_path / "base" / "model") == 105
    (tmp_path / "lda" / "adapter").mkdir(parents=True)
    (tmp_path / "lda" / "adapter" / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": PEFT_TYPE,
                "language": "kat",
                "num_parameters": 3,
                "percent_of_model": 2.86,
                "bottleneck_dim": 8,
                "base_model_fingerprint": "abcdef0123456789",
            }
        )
    )
    base_hyps = {"kat-1": "ა x y z", "eng-1": "one two three four", "rus-1": "раз два"}
    write_scores(tmp_path / "base" / "decode_test", base_hyps)  # kat WER 75
    write_scores(tmp_path / "base" / "decode_test_kat_streaming", base_hyps)
    lda_hyps = {**base_hyps, "kat-1": "ა ბ y z"}  # kat WER 50
    write_scores(tmp_path / "merged" / "decode_test", lda_hyps)
    write_scores(tmp_path / "merged" / "decode_test_kat_streaming", lda_hyps)
    ft_hyps = {"kat-1": "ა ბ გ z", "eng-1": "one", "rus-1": "раз два"}  # forgets English
    write_scores(tmp_path / "finetune" / "decode_test", ft_hyps)
    pseudo = tmp_path / "kat_pseudo_1"
    pseudo.mkdir()
    (pseudo / "pseudo_label_report.txt").write_text(
        "# 5 kept, 2 dropped of 7 (min confidence 0.5; teacher: CTC head, second pass)\n"
    )

    text = lda_summary(
        "kat",
        tmp_path / "base",
        tmp_path / "lda",
        tmp_path / "merged",
        tmp_path / "finetune",
        [pseudo],
    )
    kat_row = next(line for line in text.splitlines() if line.startswith("| kat |"))
    cells = [cell.strip() for cell in kat_row.strip("|").split("|")]
    # utts, base WER/CER, LDA WER/CER, reduction, full FT WER, CER, best step, params, share
    assert cells[1:4] == ["1", "75.00", "75.00"] and cells[4:6] == ["50.00", "50.00"]
    assert cells[6] == "+33.3%" and cells[7] == "25.00" and cells[9] == ""
    assert cells[10:12] == ["3", "2.86%"] and cells[12:14] == ["75.00", "50.00"]
    assert "**mean**" not in text
    assert "| eng | 0.00 | 0.00 | 75.00 |" in text
    assert "| rus | 33.33 | 33.33 | 33.33 |" in text
    assert "identical to the base" in text
    assert "5 kept, 2 dropped" in text and "teacher: CTC head, second pass" in text

    write_scores(tmp_path / "merged2" / "decode_test", {**lda_hyps, "eng-1": "one"})
    write_scores(tmp_path / "merged2" / "decode_test_kat_streaming", lda_hyps)
    changed = lda_summary(
        "kat", tmp_path / "base", tmp_path / "lda", tmp_path / "merged2", tmp_path / "finetune"
    )
    assert "**differ from the base**" in changed


def adapter_record(lang: str, parameters: int, percent: float, **extra) -> str:
    return json.dumps({"peft_type": PEFT_TYPE, "language": lang, "num_parameters": parameters,
                       "percent_of_model": percent, "bottleneck_dim": 8,
                       "base_model_fingerprint": "abcdef0123456789", **extra})  # fmt: skip


def test_several_tail_languages_get_a_row_each_their_mean_and_best_steps(tmp_path):
    (tmp_path / "base" / "model").mkdir(parents=True)
    save_file({"a": torch.zeros(100)}, str(tmp_path / "base/model/model.safetensors"))
    for lang, parameters, percent in (("kat", 3, 3.0), ("rus", 5, 5.0)):
        (tmp_path / "lda" / "adapters" / lang).mkdir(parents=True)
        (tmp_path / "lda" / "adapters" / lang / "adapter_config.json").write_text(
            adapter_record(lang, parameters, percent, joiner_bias=True)
        )
    (tmp_path / "lda" / "best_steps.json").write_text(
        json.dumps({"kat": {"step": 300}, "rus": {"step": 100}})
    )
    base_hyps = {"kat-1": "ა x y z", "eng-1": "one two three four", "rus-1": "раз x y"}
    write_scores(tmp_path / "base" / "decode_test", base_hyps)  # kat 75, rus 66.67
    write_scores(
        tmp_path / "merged" / "decode_test", {**base_hyps, "kat-1": "ა ბ y z", "rus-1": "раз два y"}
    )  # 50, 33.33; fmt: skip
    write_scores(tmp_path / "ft_kat" / "decode_test", {**base_hyps, "eng-1": "one"})
    write_scores(tmp_path / "ft_rus" / "decode_test", {**base_hyps, "eng-1": "one two"})
    text = lda_summary(["kat", "rus"], tmp_path / "base", tmp_path / "lda", tmp_path / "merged",
                       [tmp_path / "ft_kat", tmp_path / "ft_rus"])  # fmt: skip
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ")}  # fmt: skip
    assert "## Language-dependent adapters: kat, rus (tail languages)" in text
    assert text.split("\n\n")[2] == (
        "Abbreviations: CER: character error rate (characters without spaces); FT: fine-tuning; "
        "LDA: language-dependent adapters; WER: word error rate."
    )  # under the heading and its note, before the table
    assert rows["kat"][4] == "50.00" and rows["kat"][6] == "+33.3%" and rows["kat"][9] == "300"
    assert rows["rus"][4] == "33.33" and rows["rus"][6] == "+50.0%" and rows["rus"][9] == "100"
    mean = rows["**mean**"]
    assert mean[2] == "70.83" and mean[4] == "41.67" and mean[6] == "+41.7%"
    assert mean[10:12] == ["4", "4.00%"] and mean[12:] == ["", "", "", ""]
    assert "| eng | 0.00 | 0.00 | 75.00 | 50.00 |" in text  # one column per fine-tuning
    assert "joiner bias" in text and "identical to the base" in text
    write_scores(tmp_path / "base" / "decode_test_full", {**base_hyps, "kat-1": "ა ბ გ z"})
    write_scores(tmp_path / "merged" / "decode_test_full", {**base_hyps, "kat-1": "ა ბ გ დ"})
    write_scores(tmp_path / "iter1" / "decode_test_tail", {**base_hyps, "kat-1": "ა ბ y y"})
    (tmp_path / "iter1" / "confidence_report.txt").write_text(
        "confidence length: Pearson -0.500\nthreshold 0.5: 3 kept\n"
    )
    iterated = lda_summary(["kat", "rus"], tmp_path / "base", tmp_path / "lda",
                           tmp_path / "merged", [tmp_path / "ft_kat", tmp_path / "ft_rus"],
                           iterations=[tmp_path / "iter1"])  # fmt: skip
    kat = next(line for line in iterated.splitlines() if line.startswith("| kat |"))
    assert kat.endswith("| 25.00 | 0.00 |")  # full context: base, LDA
    # base 75 -> iteration 1: 50 (1/3 less) -> iteration 2 (the merged model): 50
    assert "| kat | 75.00 | 50.00 (+33.3%) | 50.00 (+0.0%) |" in iterated
    assert "| rus | 66.67 | 66.67 (+0.0%) | 33.33 (+50.0%) |" in iterated
    assert "iteration 1, the teacher on `data/dev_tail`: confidence length: Pearson -0.500; " \
        "threshold 0.5: 3 kept" in iterated  # fmt: skip
    with pytest.raises(SpeechmlError, match="3 fine-tuning dirs for 2 tail languages"):
        lda_summary(["kat", "rus"], tmp_path / "base", tmp_path / "lda", tmp_path / "merged",
                    [tmp_path / "ft_kat"] * 3)  # fmt: skip


def test_head_languages_are_compared_hypothesis_by_hypothesis(tmp_path):
    data = tmp_path / "data" / "test"
    data.mkdir(parents=True)
    (data / "utt2lang").write_text("".join(f"{u} {lang}\n" for u, lang in UTT2LANG.items()))
    (tmp_path / "base" / "model").mkdir(parents=True)
    save_file({"a": torch.zeros(10)}, str(tmp_path / "base/model/model.safetensors"))
    (tmp_path / "lda" / "adapter").mkdir(parents=True)
    (tmp_path / "lda" / "adapter" / "adapter_config.json").write_text(adapter_record("kat", 1, 10))
    base_hyps = {"kat-1": "ა x y z", "eng-1": "one two three four", "rus-1": "раз два"}

    def decode(system: str, hyps: dict[str, str]) -> None:
        decode_dir = tmp_path / system / "decode_test"
        decode_dir.mkdir(parents=True)
        record = score_wer(REFS, hyps, utt2lang=UTT2LANG).to_dict()
        (decode_dir / "score.json").write_text(json.dumps({"data_dir": str(data), **record}))
        write_trn(decode_dir / "hyp.trn", hyps)

    decode("base", base_hyps)
    decode("merged", {**base_hyps, "kat-1": "ა ბ y z"})
    # the same WER, another hypothesis: a changed head language that the rates cannot show
    decode("moved", {**base_hyps, "kat-1": "ა ბ y z", "rus-1": "раз три"})
    systems = tmp_path / "base", tmp_path / "lda"
    same = lda_summary("kat", *systems, tmp_path / "merged", tmp_path / "merged")
    assert "identical to the base (the same hypothesis for each of 2 utterances)" in same
    moved = lda_summary("kat", *systems, tmp_path / "moved", tmp_path / "merged")
    assert "**differ from the base** (1 of 2 hypotheses changed)" in moved
