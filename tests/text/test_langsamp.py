"""LangSAMP: language and script embeddings reach the MLM head only; the id map."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoModelForMaskedLM, XLMRobertaForMaskedLM

from speechml.errors import DataError, SpeechmlError
from speechml.text.encoder import TextModelConfig, xlmr_config
from speechml.text.ids import LanguageScriptIds
from speechml.text.langsamp import LangSampForMaskedLM


def tiny_langsamp() -> LangSampForMaskedLM:
    torch.manual_seed(0)
    config = xlmr_config(TextModelConfig(hidden_size=16, dropout=0.0), 40, 12)
    ids = LanguageScriptIds(["eng", "kat", "rus"], ["Cyrl", "Geor", "Latn"])
    return LangSampForMaskedLM(XLMRobertaForMaskedLM(config), ids).eval()


def test_embeddings_reach_the_head_only():
    model = tiny_langsamp()
    input_ids = torch.tensor([[0, 7, 8, 9, 2], [0, 5, 6, 2, 1]])
    mask = (input_ids != 1).long()
    outputs = [
        model(
            input_ids,
            mask,
            lang_ids=torch.tensor([lang, lang]),
            script_ids=torch.tensor([0, 1]),
            output_hidden_states=True,
        )
        for lang in (0, 2)
    ]
    assert not torch.allclose(outputs[0].logits, outputs[1].logits)  # the head sees the language
    for a, b in zip(outputs[0].hidden_states, outputs[1].hidden_states, strict=True):
        assert torch.equal(a, b)  # the encoder does not
    plain = model.mlm.base_model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    assert torch.equal(plain, outputs[0].hidden_states[-1])
    labels = torch.full_like(input_ids, -100)
    labels[:, 1] = input_ids[:, 1]
    model.train()
    model(input_ids, mask, labels, torch.tensor([0, 1]), torch.tensor([2, 1])).loss.backward()
    grad = model.language_embeddings.weight.grad
    assert grad[0].abs().sum() > 0 and grad[1].abs().sum() > 0 and grad[2].abs().sum() == 0


def test_save_and_load_round_trip(tmp_path):
    model = tiny_langsamp()
    with torch.no_grad():
        model.language_embeddings.weight.add_(1.0)
    model.save(tmp_path / "lm")
    loaded = LangSampForMaskedLM.load(tmp_path / "lm").eval()
    assert loaded.ids == model.ids
    assert torch.equal(loaded.language_embeddings.weight, model.language_embeddings.weight)
    input_ids = torch.tensor([[0, 7, 8, 2]])
    ids = {"lang_ids": torch.tensor([1]), "script_ids": torch.tensor([1])}
    assert torch.allclose(model(input_ids, **ids).logits, loaded(input_ids, **ids).logits)
    # the directory is a plain masked LM and encoder for everything else: no ids needed
    assert isinstance(AutoModelForMaskedLM.from_pretrained(tmp_path / "lm"), XLMRobertaForMaskedLM)
    encoder = AutoModel.from_pretrained(tmp_path / "lm").eval()
    assert torch.allclose(
        encoder(input_ids).last_hidden_state,
        model.mlm.base_model(input_ids=input_ids).last_hidden_state,
        atol=1e-6,
    )
    similarity = loaded.language_similarity()
    assert similarity.shape == (3, 3) and abs(similarity[0, 0] - 1.0) < 1e-5


def test_missing_tables_are_named(tmp_path):
    tiny_langsamp().mlm.save_pretrained(tmp_path)
    with pytest.raises(SpeechmlError, match="not a LangSAMP model"):
        LangSampForMaskedLM.load(tmp_path)


def test_id_map_detects_scripts_and_names_unknown_languages(tmp_path):
    ids = LanguageScriptIds.from_data(["eng", "kat", "eng"], ["may", "მაისი", "june"])
    assert ids.languages == ["eng", "kat"] and ids.scripts == ["Geor", "Latn"]
    assert ids.encode(["kat", "eng"], ["ივნისი", "july"]) == ([1, 0], [0, 1])
    with pytest.raises(DataError, match="utt7.*language 'rus'"):
        ids.encode(["rus"], ["май"], utts=["utt7"])
    with pytest.raises(DataError, match="script Cyrl"):
        ids.encode(["eng"], ["май"])
    ids.save(tmp_path)
    assert LanguageScriptIds.load(tmp_path) == ids
    with pytest.raises(SpeechmlError, match="lang_script_ids.json is missing"):
        LanguageScriptIds.load(tmp_path / "none")
