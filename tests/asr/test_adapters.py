"""Language adapters: size, identity at init, frozen base, routing, streaming, files, merging."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from speechml.asr.adapters import (
    AdaptedBlock,
    AdapterConfig,
    adapter_languages,
    adapter_parameters,
    adapter_percent,
    add_adapters,
    base_fingerprint,
    base_state_dict,
    fold_language,
    freeze_base,
    languages,
    load_adapter,
    load_multilingual,
    merge_adapters,
    remove_adapter,
    save_adapter,
    save_multilingual,
    set_languages,
)
from speechml.asr.search import StreamingGreedyDecoder, greedy_search, modified_beam_search
from speechml.asr.transducer import Transducer, TransducerConfig
from speechml.errors import ConfigError, SpeechmlError

sys.path.insert(0, str(Path(__file__).parent))
from test_transducer import tiny_batch, tiny_model  # noqa: E402

#: adapters in every block of the tiny model, with random up-projections so that they matter
RANDOM = AdapterConfig(bottleneck_dim=4, second_pass=True, dropout=0.0, init_scale=0.5)


def with_adapters(langs: list[str], seed: int = 1) -> Transducer:
    """The tiny base (always the same weights) with random adapters for ``langs``."""
    model = tiny_model(second_pass=1)
    torch.manual_seed(seed)
    add_adapters(model, langs, RANDOM)
    return model.eval()


def encode(model: Transducer, feats, lengths, codes):
    with languages(model, codes):
        return model.encoder(feats, lengths)


def test_default_model_adapter_is_about_half_a_percent():
    model = Transducer(TransducerConfig(vocab_size=200))
    add_adapters(model, ["kat"])
    assert adapter_parameters(model, "kat") == 6 * (2 * 144 + 144 * 8 + 8 + 8 * 144 + 144)
    assert 0.4 <= adapter_percent(model, "kat") <= 0.5  # the method: about 0.4-0.5%, <= 1%


def test_new_adapters_leave_outputs_bit_identical():
    model = tiny_model(second_pass=1).eval()
    feats, lengths, targets, target_lengths = tiny_batch()
    base = model.encoder(feats, lengths)
    base_loss, _ = model(feats, lengths, targets, target_lengths)
    fingerprint = base_fingerprint(model)
    add_adapters(model, ["kat"], AdapterConfig(bottleneck_dim=4, second_pass=True))
    with languages(model, ["kat"] * 3):
        adapted = model.encoder(feats, lengths)
        loss, _ = model(feats, lengths, targets, target_lengths)
    assert torch.equal(adapted.causal, base.causal)
    assert torch.equal(adapted.second_pass, base.second_pass)
    assert torch.equal(loss, base_loss)
    assert base_fingerprint(model) == fingerprint


def test_training_one_adapter_leaves_the_base_and_other_adapters_unchanged():
    model = tiny_model(second_pass=1)
    add_adapters(model, ["kat", "eng"], AdapterConfig(bottleneck_dim=4, second_pass=True))
    freeze_base(model, ["kat"])
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".adapters.kat." in name for name in trainable)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1)
    batch = tiny_batch()
    set_languages(model, ["kat"] * 3)
    losses = []
    for _ in range(5):
        loss, _ = model(*batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    after = model.state_dict()
    for key, value in before.items():
        if ".adapters.kat.up." in key:
            assert not torch.equal(after[key], value), key
        elif ".adapters.kat." not in key:
            assert torch.equal(after[key], value), key


def test_languages_without_an_adapter_run_the_base_model():
    base = tiny_model(second_pass=1).eval()
    model = with_adapters(["kat"])
    feats, lengths, _, _ = tiny_batch()
    expected = base.encoder(feats, lengths)
    passthrough = encode(model, feats, lengths, ["eng", None, "xyz"])
    assert torch.equal(passthrough.causal, expected.causal)
    assert torch.equal(passthrough.second_pass, expected.second_pass)
    base_hyps = greedy_search(base, expected.causal, expected.lengths)
    hyps = greedy_search(model, passthrough.causal, passthrough.lengths)
    assert [h.tokens for h in hyps] == [h.tokens for h in base_hyps]
    adapted = encode(model, feats, lengths, ["kat"] * 3)
    assert not torch.allclose(adapted.causal, expected.causal)


def test_streaming_with_adapters_equals_the_full_pass():
    model = with_adapters(["kat"])
    feats = torch.randn(1, 90, 20, generator=torch.Generator().manual_seed(5))
    step = 4 * model.config.encoder.chunk_size
    with languages(model, ["kat"]):
        full = model.encoder(feats, torch.tensor([90]))
        state = model.encoder.init_stream()
        pieces = []
        for start in range(0, 90, step):
            out, state = model.encoder.forward_chunk(feats[:, start : start + step], state)
            pieces.append(out)
        decoder = StreamingGreedyDecoder(model)
        for start in range(0, 90, step):
            decoder.accept(feats[:, start : start + step])
    torch.testing.assert_close(torch.cat(pieces, dim=1), full.causal, rtol=1e-5, atol=1e-5)
    assert decoder.finish().tokens == greedy_search(model, full.causal, full.lengths)[0].tokens
    base = tiny_model(second_pass=1).eval().encoder(feats, torch.tensor([90]))
    assert not torch.allclose(full.causal, base.causal)


def test_save_and_load_round_trip(tmp_path):
    model = with_adapters(["kat", "eng"])
    out = save_adapter(model, "kat", tmp_path / "kat")
    record = json.loads((out / "adapter_config.json").read_text())
    assert record["language"] == "kat" and record["peft_type"]
    assert record["bottleneck_dim"] == 4 and record["layers"] == [0, 1]
    assert record["second_pass"] is True
    assert record["base_model_fingerprint"] == base_fingerprint(model)
    assert record["num_parameters"] == adapter_parameters(model, "kat")
    assert record["percent_of_model"] == pytest.approx(adapter_percent(model, "kat"), abs=1e-3)
    weights = load_file(str(out / "adapter_model.safetensors"))
    assert sum(t.numel() for t in weights.values()) == record["num_parameters"]
    assert all("kat" not in k and ".block." not in k for k in weights)

    fresh = tiny_model(second_pass=1).eval()
    assert load_adapter(fresh, out) == "kat"
    assert adapter_languages(fresh) == ["kat"]
    feats, lengths, _, _ = tiny_batch()
    codes = ["kat", "eng", "kat"]
    original = encode(model, feats, lengths, ["kat", None, "kat"])
    loaded = encode(fresh, feats, lengths, codes)
    assert torch.equal(loaded.causal, original.causal)
    assert torch.equal(loaded.second_pass, original.second_pass)


def test_loading_onto_another_base_is_a_clear_error(tmp_path):
    out = save_adapter(with_adapters(["kat"]), "kat", tmp_path / "kat_adapter")
    other = tiny_model(second_pass=1)
    with torch.no_grad():
        other.joiner.out.bias += 1.0
    with pytest.raises(SpeechmlError, match="kat_adapter") as caught:
        load_adapter(other, out)
    message = str(caught.value)
    assert base_fingerprint(other)[:12] in message
    assert base_fingerprint(tiny_model(second_pass=1))[:12] in message
    assert adapter_languages(other) == []


def test_merged_model_routes_each_utterance_to_its_own_adapter(tmp_path):
    kat, eng = with_adapters(["kat"], seed=1), with_adapters(["eng"], seed=2)
    dirs = {
        "kat": save_adapter(kat, "kat", tmp_path / "kat"),
        "eng": save_adapter(eng, "eng", tmp_path / "eng"),
    }
    merged = merge_adapters(tiny_model(second_pass=1).eval(), dirs)
    assert adapter_languages(merged) == ["eng", "kat"]
    feats, lengths, _, _ = tiny_batch()
    codes = ["kat", "eng", None]
    mixed = encode(merged, feats, lengths, codes)
    hyps = greedy_search(merged, mixed.causal, mixed.lengths)
    singles = [kat, eng, tiny_model(second_pass=1).eval()]
    for i, (single, code) in enumerate(zip(singles, codes, strict=True)):
        n = int(lengths[i])
        alone = encode(single, feats[i : i + 1, :n], lengths[i : i + 1], [code])
        frames = int(alone.lengths[0])
        torch.testing.assert_close(mixed.causal[i, :frames], alone.causal[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            mixed.second_pass[i, :frames], alone.second_pass[0], rtol=1e-5, atol=1e-5
        )
        assert greedy_search(single, alone.causal, alone.lengths)[0].tokens == hyps[i].tokens
    with pytest.raises(SpeechmlError, match="not 'yor'"):
        merge_adapters(tiny_model(second_pass=1), {"yor": dirs["kat"]})


def test_multilingual_directory_round_trip(tmp_path):
    model = with_adapters(["kat", "eng"])
    out = save_multilingual(model, tmp_path / "model")
    assert sorted(p.name for p in (out / "adapters").iterdir()) == ["eng", "kat"]
    plain = tiny_model(second_pass=1)
    plain.load_state_dict(load_file(str(out / "model.safetensors")))  # a plain base, strict
    loaded = load_multilingual(out)
    feats, lengths, _, _ = tiny_batch()
    codes = ["kat", "eng", None]
    assert torch.equal(
        encode(loaded, feats, lengths, codes).causal, encode(model, feats, lengths, codes).causal
    )
    remove_adapter(model, "eng")
    save_multilingual(model, out)
    assert [p.name for p in (out / "adapters").iterdir()] == ["kat"]


def test_misuse_is_reported_clearly():
    model = with_adapters(["kat"])
    feats, lengths, _, _ = tiny_batch()
    with pytest.raises(RuntimeError, match="set_languages"):
        model.encoder(feats, lengths)
    with pytest.raises(ValueError, match="2 languages set for a batch of 3"):
        encode(model, feats, lengths, ["kat", "kat"])
    with pytest.raises(SpeechmlError, match="already has an adapter for language 'kat'"):
        add_adapters(model, ["kat"], RANDOM)
    with pytest.raises(ConfigError, match="block 5 does not exist"):
        add_adapters(model, ["eng"], AdapterConfig(layers=[0, 5]))
    with pytest.raises(SpeechmlError, match="no adapter for language 'yor'"):
        adapter_parameters(model, "yor")
    assert adapter_languages(model) == ["kat"]


def test_removing_the_last_adapter_restores_the_plain_model():
    model = with_adapters(["kat"])
    add_adapters(model, ["eng"], AdapterConfig(layers=[1]))
    assert adapter_parameters(model, "eng") < adapter_parameters(model, "kat")
    remove_adapter(model, "kat")
    remove_adapter(model, "eng")
    assert not any(isinstance(m, AdaptedBlock) for m in model.modules())
    assert model.state_dict().keys() == tiny_model(second_pass=1).state_dict().keys()


#: a per-language bias on the joiner's logits and LoRA rank 2 on its output layer, no encoder part
JOINER = AdapterConfig(layers=[], joiner_bias=True, joiner_lora_rank=2, dropout=0.0)


def test_joiner_parts_are_counted_and_start_as_the_identity():
    model = tiny_model(second_pass=1).eval()
    batch = tiny_batch()
    base_loss, _ = model(*batch)
    add_adapters(model, ["kat"], JOINER)
    hidden, vocab = model.config.joiner_dim, model.config.vocab_size
    assert adapter_parameters(model, "kat") == vocab + 2 * (hidden + vocab)
    assert adapter_percent(model, "kat") == pytest.approx(
        100 * (vocab + 2 * (hidden + vocab)) / tiny_model(second_pass=1).num_parameters()
    )
    add_adapters(model, ["eng"], AdapterConfig(bottleneck_dim=4, joiner_bias=True))
    encoder_only = tiny_model(second_pass=1)
    add_adapters(encoder_only, ["eng"], AdapterConfig(bottleneck_dim=4))
    assert adapter_parameters(model, "eng") == adapter_parameters(encoder_only, "eng") + vocab
    with languages(model, ["kat", "eng", "kat"]):
        assert torch.equal(model(*batch)[0], base_loss)


def train_joiner_parts(model: Transducer, codes: list[str | None], steps: int = 5) -> list[float]:
    """A few AdamW steps on the tiny batch with only the adapters trainable; the losses."""
    freeze_base(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    losses = []
    with languages(model, codes):
        for _ in range(steps):
            loss, _ = model(*tiny_batch())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def test_joiner_parts_train_while_the_base_stays_bit_identical():
    model = tiny_model(second_pass=1)
    add_adapters(model, ["kat"], JOINER)
    before = base_fingerprint(model)
    base = tiny_model(second_pass=1).state_dict()
    losses = train_joiner_parts(model, ["kat"] * 3)
    assert losses[-1] < losses[0]
    assert base_fingerprint(model) == before
    trained = {n: p for n, p in model.named_parameters() if ".adapters.kat." in n}
    assert sorted(n.rsplit(".", 1)[1] for n in trained) == ["lang_bias", "lora_a", "lora_b"]
    assert all(p.abs().sum() > 0 for n, p in trained.items() if not n.endswith("lora_a"))
    assert all(torch.equal(v, base[k]) for k, v in base_state_dict(model).items())


def test_joiner_parts_route_by_row_in_greedy_and_beam_search_and_fold_exactly(tmp_path):
    model = tiny_model(second_pass=1)
    add_adapters(model, ["kat"], JOINER)
    train_joiner_parts(model, ["kat"] * 3)
    model.eval()
    base = tiny_model(second_pass=1).eval()
    feats, lengths, _, _ = tiny_batch()
    codes = ["kat", None, "kat"]
    mixed = encode(model, feats, lengths, codes)
    with languages(model, codes):
        greedy = greedy_search(model, mixed.causal, mixed.lengths)
        beam = modified_beam_search(model, mixed.causal, mixed.lengths, beam=3)
    folded = fold_language(model, "kat").eval()
    assert adapter_languages(folded) == []
    for i, code in enumerate(codes):
        single = folded if code == "kat" else base
        enc, n = mixed.causal[i : i + 1], mixed.lengths[i : i + 1]
        assert greedy_search(single, enc, n)[0].tokens == greedy[i].tokens
        assert modified_beam_search(single, enc, n, beam=3)[0].tokens == beam[i].tokens
    hidden = torch.randn(4, model.config.joiner_dim)
    with languages(model, ["kat"] * 4):
        torch.testing.assert_close(folded.joiner.out(hidden), model.joiner.out(hidden))
    assert not torch.allclose(folded.joiner.out(hidden), base.joiner.out(hidden))
    out = save_adapter(model, "kat", tmp_path / "kat")
    fresh = tiny_model(second_pass=1).eval()
    assert load_adapter(fresh, out) == "kat"
    with languages(fresh, ["kat"] * 4), languages(model, ["kat"] * 4):
        assert torch.equal(fresh.joiner.out(hidden), model.joiner.out(hidden))
    remove_adapter(fresh, "kat")
    assert fresh.state_dict().keys() == base.state_dict().keys()
