"""TransliCo: transliteration-contrastive training of a multilingual text encoder.

TransliCo (Liu et al. 2024) fine-tunes a masked LM on pairs of a sentence and its uroman
transliteration: MLM on both, plus ``weight`` (0.5) x a contrastive loss that pulls the
mean-pooled representation of a middle layer of each sentence towards that of its own
transliteration and away from the other transliterations in the batch (in-batch negatives,
symmetric InfoNCE with a temperature). Sentences of different scripts that sound alike then
land near each other, which is what a zero-shot transfer across scripts needs.

Example:
    >>> a, b = torch.eye(3), torch.eye(3)
    >>> float(info_nce(a, b, temperature=0.1)) < float(info_nce(a, b.roll(1, 0), 0.1))
    True
"""

from __future__ import annotations

import torch
from torch import nn


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``(B, T, H)`` hidden states over the unpadded positions, ``(B, H)``."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE of ``(B, H)`` pairs: row i of each is the positive of row i of the other.

    The cosine similarities divided by ``temperature`` are the logits; every other row of the
    batch is a negative.
    """
    q = nn.functional.normalize(queries.float(), dim=-1)
    k = nn.functional.normalize(keys.float(), dim=-1)
    logits = q @ k.T / temperature
    targets = torch.arange(len(q), device=q.device)
    return 0.5 * (
        nn.functional.cross_entropy(logits, targets)
        + nn.functional.cross_entropy(logits.T, targets)
    )


def middle_layer(num_layers: int) -> int:
    """The index into ``hidden_states`` (0: embeddings) of the middle transformer layer."""
    return max(1, (num_layers + 1) // 2)
