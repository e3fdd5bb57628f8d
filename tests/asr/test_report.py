"""The LDA summary: numbers from the score files, relative WER, changed languages flagged."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from speechml.asr.adapters import PEFT_TYPE
from speechml.asr.report import lda_summary, parameter_count
from speechml.errors import SpeechmlError
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
    assert rows["kat"][4] == "50.00" and rows["kat"][6] == "+33.3%" and rows["kat"][9] == "300"
    assert rows["rus"][4] == "33.33" and rows["rus"][6] == "+50.0%" and rows["rus"][9] == "100"
    mean = rows["**mean**"]
    assert mean[2] == "70.83" and mean[4] == "41.67" and mean[6] == "+41.7%"
    assert mean[10:12] == ["4", "4.00%"] and mean[12:] == ["", ""]
    assert "| eng | 0.00 | 0.00 | 75.00 | 50.00 |" in text  # one column per fine-tuning
    assert "joiner bias" in text and "identical to the base" in text
    with pytest.raises(SpeechmlError, match="3 fine-tuning dirs for 2 tail languages"):
        lda_summary(["kat", "rus"], tmp_path / "base", tmp_path / "lda", tmp_path / "merged",
                    [tmp_path / "ft_kat"] * 3)  # fmt: skip
