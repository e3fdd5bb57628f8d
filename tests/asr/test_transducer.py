"""Transducer model: loss shapes, both predictors, and a loss that falls on a tiny batch."""

from __future__ import annotations

import pytest
import torch

from speechml.asr.encoder import EncoderConfig
from speechml.asr.transducer import PredictorConfig, Transducer, TransducerConfig
from speechml.errors import ConfigError

ENCODER = EncoderConfig(
    input_dim=20,
    d_model=32,
    num_heads=2,
    ffn_dim=64,
    num_layers=2,
    conv_kernel=5,
    subsampling_channels=8,
    chunk_size=4,
    left_chunks=2,
    dropout=0.0,
)


def tiny_model(
    kind: str = "stateless", second_pass: int = 0, loss: str = "full", prune_range: int = 5
) -> Transducer:
    torch.manual_seed(0)
    encoder = EncoderConfig(**{**ENCODER.__dict__, "num_second_pass_layers": second_pass})
    predictor = PredictorConfig(kind=kind, embed_dim=16, hidden_dim=16, output_dim=16, dropout=0)
    config = TransducerConfig(
        vocab_size=12,
        encoder=encoder,
        predictor=predictor,
        joiner_dim=24,
        loss=loss,
        prune_range=prune_range,
    )
    return Transducer(config)


def tiny_batch():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 48, 20, generator=gen)
    lengths = torch.tensor([48, 40, 28])
    targets = torch.randint(1, 12, (3, 5), generator=gen)
    target_lengths = torch.tensor([5, 3, 2])
    return feats, lengths, targets, target_lengths


@pytest.mark.parametrize(
    "kind, second_pass, loss",
    [("stateless", 0, "full"), ("lstm", 0, "full"), ("stateless", 1, "full"),
     ("stateless", 1, "pruned")],
)  # fmt: skip
def test_loss_falls_on_a_tiny_batch(kind, second_pass, loss):
    model = tiny_model(kind, second_pass, loss)
    batch = tiny_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first, stats = model(*batch)
    assert "rnnt" in stats and "ctc" in stats
    assert ("rnnt_second" in stats) == bool(second_pass)
    for _ in range(40):
        loss, _ = model(*batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first.item()


def test_ctc_only_trains_the_encoder_and_ctc_head_alone():
    model = tiny_model(second_pass=1)
    model.config.ctc_weight = 1.0
    loss, stats = model(*tiny_batch())
    assert sorted(stats) == ["ctc", "ctc_second"]
    assert loss.item() == pytest.approx(0.5 * stats["ctc"] + 0.5 * stats["ctc_second"], rel=1e-5)
    loss.backward()
    for name, param in model.named_parameters():
        trained = name.startswith(("encoder.", "ctc_head."))
        assert (param.grad is not None) == trained, name


@pytest.mark.parametrize("field", ["ctc_weight", "second_pass_weight"])
def test_loss_weights_outside_zero_one_are_refused(field):
    with pytest.raises(ValueError, match=f"{field} must be in"):
        TransducerConfig(vocab_size=12, **{field: 1.5})


def test_unknown_predictor_is_a_config_error():
    with pytest.raises(ConfigError, match="stateless"):
        tiny_model(kind="transformer")


def test_parallel_rnnt_loss_equals_one_call():
    import torchaudio

    from speechml.asr.transducer import rnnt_loss_sum

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, 4, 9, generator=gen, requires_grad=True)
    targets = torch.randint(1, 9, (5, 3), generator=gen)
    lengths, target_lengths = torch.tensor([7, 6, 7, 3, 5]), torch.tensor([3, 2, 1, 3, 0])
    reference = torchaudio.functional.rnnt_loss(
        logits, targets.int(), lengths.int(), target_lengths.int(), blank=0, reduction="sum"
    )
    (grad_reference,) = torch.autograd.grad(reference, logits)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parallel = rnnt_loss_sum(logits, targets, lengths, target_lengths, blank=0)
    finally:
        torch.set_num_threads(threads)
    (grad,) = torch.autograd.grad(parallel, logits)
    torch.testing.assert_close(parallel, reference)
    torch.testing.assert_close(grad, grad_reference)


def test_pruned_loss_with_a_window_over_every_symbol_is_the_full_loss():
    full, pruned = tiny_model(), tiny_model(loss="pruned", prune_range=6)
    pruned.load_state_dict(full.state_dict(), strict=False)
    pruned.set_loss_scales(step=0, warmup_steps=0)
    _, full_stats = full(*tiny_batch())
    loss, stats = pruned(*tiny_batch())
    assert sorted(stats) == ["ctc", "pruned", "rnnt", "simple"]
    assert stats["pruned"] == pytest.approx(full_stats["rnnt"], rel=1e-5)
    assert stats["rnnt"] == pytest.approx(0.5 * stats["simple"] + stats["pruned"], rel=1e-5)
    assert loss.item() == pytest.approx(0.7 * stats["rnnt"] + 0.3 * stats["ctc"], rel=1e-5)


def test_the_pruned_loss_weights_warm_up_with_the_training_step():
    model = tiny_model(loss="pruned")
    assert model.loss_scales == (0.5, 1.0)  # a trained model (fine-tuning, adapters): no warm-up
    model.set_loss_scales(step=0, warmup_steps=100)
    assert model.loss_scales == (1.0, 0.1)
    model.set_loss_scales(step=50, warmup_steps=100)
    assert model.loss_scales == pytest.approx((0.75, 0.55))
    _, stats = model(*tiny_batch())
    assert stats["rnnt"] == pytest.approx(0.75 * stats["simple"] + 0.55 * stats["pruned"], rel=1e-5)
