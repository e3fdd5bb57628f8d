"""The LDA summary: numbers from the score files, relative WER, changed languages flagged."""

from __future__ import annotations

import json

import torch
from safetensors.torch import save_file

from speechml.asr.adapters import PEFT_TYPE
from speechml.asr.report import lda_summary, parameter_count
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
    lda_row = next(line for line in text.splitlines() if line.startswith("| LDA"))
    assert "| 50.00 |" in lda_row and "+33.3%" in lda_row and "2.86%" in lda_row
    ft_row = next(line for line in text.splitlines() if line.startswith("| full fine-tuning"))
    assert "| 25.00 |" in ft_row
    assert "| eng | 0.00 | 0.00 | 75.00 |" in text
    assert "identical to the base" in text
    assert "5 kept, 2 dropped" in text and "teacher: CTC head, second pass" in text

    write_scores(tmp_path / "merged2" / "decode_test", {**lda_hyps, "eng-1": "one"})
    write_scores(tmp_path / "merged2" / "decode_test_kat_streaming", lda_hyps)
    changed = lda_summary(
        "kat", tmp_path / "base", tmp_path / "lda", tmp_path / "merged2", tmp_path / "finetune"
    )
    assert "**differ from the base**" in changed
