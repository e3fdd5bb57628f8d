"""Cross-script retrieval: does a sentence's representation find its own transliteration?

For N sentences and their N transliterations (uroman), each sentence is embedded by
mean-pooling a layer of the encoder; the accuracy is the share of sentences whose nearest
transliteration (cosine) is their own. A model that has learned that ``январь`` and
``ianvar'`` are the same word scores high; chance is 1/N.

Example:
    >>> retrieval_accuracy(torch.eye(3), torch.eye(3))
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import DataCollatorWithPadding, PreTrainedModel, PreTrainedTokenizerBase

from speechml.text.pretrain import load_masked_lm
from speechml.text.romanize import Romanizer
from speechml.text.translico import mean_pool, middle_layer


@torch.no_grad()
def sentence_embeddings(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    layer: int,
    batch_size: int = 64,
    max_length: int | None = None,
) -> torch.Tensor:
    """Mean-pooled ``hidden_states[layer]`` of each text, ``(N, H)`` on the CPU.

    Args:
        model: any transformers model that returns ``hidden_states`` (0: the embeddings).
        tokenizer: its tokenizer.
        texts: the texts, normalised as the model's training text.
        layer: which hidden state to pool.
        max_length: longer texts are cut (default: the tokenizer's ``model_max_length``).
    """
    model.eval()
    device = next(model.parameters()).device
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    limit = max_length or tokenizer.model_max_length
    ids = tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]
    out = [torch.zeros(0, model.config.hidden_size)]
    for start in range(0, len(ids), batch_size):
        batch = collate([{"input_ids": i} for i in ids[start : start + batch_size]]).to(device)
        hidden = model(**batch, output_hidden_states=True).hidden_states[layer]
        out.append(mean_pool(hidden, batch["attention_mask"]).float().cpu())
    return torch.cat(out)


def retrieval_accuracy(sources: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of rows of ``sources`` whose most cosine-similar row of ``targets`` has their index."""
    similarity = nn.functional.normalize(sources, dim=1) @ nn.functional.normalize(targets, dim=1).T
    hits = similarity.argmax(1) == torch.arange(len(sources))
    return float(hits.float().mean()) if len(sources) else 0.0


def transliteration_retrieval(
    model_dir: str | Path, texts: Sequence[str], langs: Sequence[str], layer: int = 0
) -> tuple[float, int]:
    """(accuracy, pairs) of native -> uroman retrieval over the distinct ``(text, lang)``.

    Args:
        model_dir: a masked-LM (or LangSAMP) directory with its tokenizer.
        texts, langs: the texts (normalised) and their ISO 639-3 codes (uroman's language).
        layer: the hidden state pooled (0: the middle layer).
    """
    pairs = sorted(set(zip(texts, langs, strict=True)))
    native = [text for text, _ in pairs]
    romanized = Romanizer().romanize_many(native, [lang for _, lang in pairs])
    tokenizer, model = load_masked_lm(model_dir)
    encoder = getattr(model, "mlm", model)
    layer = layer or middle_layer(encoder.config.num_hidden_layers)
    accuracy = retrieval_accuracy(
        sentence_embeddings(encoder, tokenizer, native, layer),
        sentence_embeddings(encoder, tokenizer, romanized, layer),
    )
    return accuracy, len(pairs)
