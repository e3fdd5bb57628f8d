"""The continued-pretraining summary: rates per system, pretraining diagnostics, its legend."""

from __future__ import annotations

import json

from speechml.score.wer import score_wer
from speechml.ssl.report import cpt_summary

REFS = {"kat-1": "ა ბ გ დ"}


def test_summary_rows_diagnostics_and_the_abbreviations_spelled_out(tmp_path):
    for name, hyp in (("ft", "ა ბ x y"), ("cpt_ft", "ა ბ გ y")):
        decode = tmp_path / name / "decode_test_kat"
        decode.mkdir(parents=True)
        record = score_wer(REFS, {"kat-1": hyp}, utt2lang={"kat-1": "kat"}).to_dict()
        (decode / "score.json").write_text(json.dumps(record))
    pretrain = tmp_path / "w2v"
    (pretrain / "log").mkdir(parents=True)
    (pretrain / "model").mkdir()
    (pretrain / "model" / "config.json").write_text(
        json.dumps({"num_codevector_groups": 2, "num_codevectors_per_group": 8})
    )
    steps = [
        {"step": 1, "contrastive": 3.4, "perplexity": 5.0, "grad_norm": 1.0},
        {"step": 2, "contrastive": 3.0, "perplexity": 9.0, "grad_norm": 0.5},
        {"step": 2, "valid_loss": 3.1},
    ]
    (pretrain / "log" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in steps))

    text = cpt_summary(
        "kat",
        {"fine-tuning only": tmp_path / "ft", "CPT + fine-tuning": tmp_path / "cpt_ft"},
        {"stand-in for XLS-R": pretrain},
    )
    heading, legend, note = text.split("\n\n")[:3]
    assert heading == "## wav2vec2 continued pretraining: kat"
    assert legend == (
        "Abbreviations: CER: character error rate (characters without spaces); CPT: continued "
        "pretraining (self-supervised, on the target language's audio); CTC: connectionist "
        "temporal classification; WER: word error rate; XLS-R: cross-lingual speech "
        "representations, a wav2vec2 pretrained on 128 languages."
    )
    assert note.startswith("CTC fine-tuning on the same labelled kat data")
    assert f"| fine-tuning only | 50.00 | 50.00 | 1 | {tmp_path / 'ft'} |" in text
    assert f"| CPT + fine-tuning | 25.00 | 25.00 | 1 | {tmp_path / 'cpt_ft'} |" in text
    assert "| stand-in for XLS-R | 2 | 3.40 -> 3.00 | 5.0 -> 9.0 of 16 | 0.50 | 3.10 |" in text
