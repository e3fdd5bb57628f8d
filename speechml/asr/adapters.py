"""Language-dependent adapters (LDA) for the streaming Conformer transducer.

The method of "Efficient Adapter Finetuning for Tail Languages in Streaming Multilingual ASR":
the multilingual base stays frozen; each language gets a small residual bottleneck adapter
after chosen encoder blocks (``x + up(relu(down(norm(x))))``, about 0.5% of the model), trained
on that language's data; the adapters of all languages are then merged into one model that
routes each utterance of a batch to the adapter of its language. Utterances of a language
without an adapter (or ``None``) run the base model unchanged. Optionally (``AdapterConfig``
``joiner_bias``, ``joiner_lora_rank``; off by default) a language also gets small parts in the
joiner's output layer: a bias on its logits (vocab_size values) and/or LoRA of rank r on its
weight (``r * (joiner_dim + vocab_size)``), which can undo a base's blank bias on that
language; they count in :func:`adapter_percent` and :func:`fold_language` folds them exactly.

Why not peft: peft 0.21's tuners (LoRA and its variants, IA3, OFT/BOFT, HRA, MiSS, PEANuT,
Lily, ...) wrap the Linear/Conv/Embedding layers of a model and change their weights or
activations; none inserts a residual bottleneck (Houlsby/Pfeiffer) module after a block, and
its per-request adapter choice (``adapter_names``) is tied to transformers-style forward
arguments that our encoder does not take. So the adapter is a module here, and its files keep
peft's layout: ``adapter_config.json`` (``peft_type`` is our own name) beside
``adapter_model.safetensors`` holding only that language's weights.

Default size: on the default model (``TransducerConfig(vocab_size=200)``: d_model 144, six
causal blocks, 3.42 M parameters) one adapter a block costs ``2*144 (norm) + 144*8 + 8
(down) + 8*144 + 144 (up) = 2744`` parameters at ``bottleneck_dim=8``: 16 464 for six blocks,
0.48% of the model; with two second-pass blocks (4.38 M parameters) and ``second_pass=True``,
eight blocks make 0.50%.

A multilingual model directory (:func:`save_multilingual`)::

    model_config.json          TransducerConfig (speechml.config.to_dict)
    model.safetensors          base weights, named as in a plain Transducer
    adapters/<lang>/           one adapter a language (adapter_config.json + safetensors)

Example:
    >>> from speechml.asr.recognizer import Recognizer
    >>> model = Recognizer.load("exp/base/model").model
    >>> add_adapters(model, ["kat", "eng"], AdapterConfig())
    >>> freeze_base(model, ["kat"])  # train the Georgian adapter only
    >>> feats, lengths = torch.randn(3, 100, 80), torch.tensor([100, 100, 100])
    >>> with languages(model, ["kat", "eng", None]):
    ...     out = model.encoder(feats, lengths)  # row 2 runs the base model
    >>> save_adapter(model, "kat", "exp/lda_kat/adapter")
    PosixPath('exp/lda_kat/adapter')
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from speechml.asr.transducer import Transducer, TransducerConfig
from speechml.config import from_dict, read_json, to_dict
from speechml.errors import ConfigError, ModelError, SpeechmlError
from speechml.io import atomic_dir, atomic_write_text
from speechml.model_files import load_safetensors, load_state_into, save_safetensors

PEFT_TYPE = "SPEECHML_BOTTLENECK"  # adapter_config.json's peft_type
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
MODEL_CONFIG = "model_config.json"
BASE_WEIGHTS = "model.safetensors"
ADAPTERS_DIR = "adapters"
BEST_STEPS = "best_steps.json"  # a multi-language run's best step, dev WER and CER by language


@dataclass
class AdapterConfig:
    """Size and placement of one language's adapters."""

    bottleneck_dim: int = 8  # r: width of the bottleneck (8: 0.48% of the default model)
    layers: list[int] | None = None  # indices of the causal blocks that get one; None: all;
    # []: none (an adapter of joiner parts only)
    second_pass: bool = False  # adapters in the non-causal second-pass blocks too
    dropout: float = 0.1  # dropout inside the bottleneck (training only)
    init_scale: float = 0.0  # std of the up-projection's initial weights; 0: exact identity
    joiner_bias: bool = False  # a per-language bias on the joiner's logits (vocab_size values)
    joiner_lora_rank: int = 0  # >0: LoRA of this rank on the joiner's output layer (B at 0)


class BottleneckAdapter(nn.Module):
    """Residual bottleneck: ``x + Linear(r, d)(dropout(relu(Linear(d, r)(LayerNorm(x)))))``.

    The up-projection starts at zero (``init_scale=0``), so a new adapter is the identity and
    a model with it gives bit-identical outputs to the base.

    Args:
        d_model: width of the block outputs ``x`` (..., d_model).
        config: bottleneck width, dropout, initial scale; kept as ``self.config``.

    Example:
        >>> adapter = BottleneckAdapter(16, AdapterConfig(bottleneck_dim=4))
        >>> x = torch.randn(2, 5, 16)
        >>> torch.equal(adapter(x), x)
        True
    """

    def __init__(self, d_model: int, config: AdapterConfig) -> None:
        super().__init__()
        self.config = config
        self.norm = nn.LayerNorm(d_model)
        self.down = nn.Linear(d_model, config.bottleneck_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.up = nn.Linear(config.bottleneck_dim, d_model)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        if config.init_scale > 0:
            nn.init.normal_(self.up.weight, std=config.init_scale)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d_model) -> (..., d_model)."""
        return x + self.up(self.dropout(torch.relu(self.down(self.norm(x)))))


class AdaptedBlock(nn.Module):
    """A Conformer block whose output goes through the adapter of each utterance's language.

    Same call as the block it wraps (``forward(x, mask, pad_mask, history=None,
    conv_cache=None) -> (x, context, conv_cache)``), so the encoder's whole-utterance pass and
    its streaming pass both use it. ``languages`` (one entry a batch row, set by
    :func:`set_languages`) picks each row's adapter; rows whose language has no adapter here,
    or is ``None``, are returned as the block computed them.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.adapters = nn.ModuleDict()  # language code -> BottleneckAdapter
        self.languages: list[str | None] | None = None  # routing; None: not set

    def forward(self, x: Tensor, *block_args: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Run the block on ``x`` (B, T, D) and the rest of its arguments (mask, pad_mask,
        history, conv_cache), then each row's adapter on the block's output (B, T, D)."""
        x, context, conv_cache = self.block(x, *block_args)
        for lang, rows in _routed_rows(self.languages, self.adapters, x.shape[0]).items():
            index = torch.tensor(rows, device=x.device)
            x = x.index_copy(0, index, self.adapters[lang](x.index_select(0, index)))
        return x, context, conv_cache


class JoinerAdapter(nn.Module):
    """One language's part of the joiner's output layer ``logits = W h + b``: a bias on the
    logits (``lang_bias``, (V,)) and/or LoRA ``lora_b @ lora_a`` of rank r on ``W``. Both
    start at zero (``lora_a`` random, ``lora_b`` 0), so a new one changes nothing.

    Args:
        hidden: the joiner's hidden width H; vocab: V.
        config: ``joiner_bias`` and ``joiner_lora_rank`` (at least one set).
    """

    def __init__(self, hidden: int, vocab: int, config: AdapterConfig) -> None:
        super().__init__()
        self.config = config
        rank = config.joiner_lora_rank
        self.lang_bias = nn.Parameter(torch.zeros(vocab)) if config.joiner_bias else None
        self.lora_a = nn.Parameter(torch.randn(rank, hidden) / hidden**0.5) if rank else None
        self.lora_b = nn.Parameter(torch.zeros(vocab, rank)) if rank else None

    def forward(self, hidden: Tensor, logits: Tensor) -> Tensor:
        """The base layer's ``logits`` (..., V) for ``hidden`` (..., H), adapted."""
        if self.lora_a is not None:
            logits = logits + (hidden @ self.lora_a.T) @ self.lora_b.T
        return logits if self.lang_bias is None else logits + self.lang_bias

    def fold(self, layer: nn.Linear) -> nn.Linear:
        """A copy of ``layer`` with this adapter folded in: exactly the same function."""
        folded = copy.deepcopy(layer)
        with torch.no_grad():
            if self.lora_a is not None:
                folded.weight += self.lora_b @ self.lora_a
            if self.lang_bias is not None:
                folded.bias += self.lang_bias
        return folded


class AdaptedOutput(nn.Module):
    """The joiner's output layer (``block``, a Linear) followed by each row's
    :class:`JoinerAdapter`; routed like :class:`AdaptedBlock` (one language a row of the
    joiner's input, batch first: beam search re-routes its hypotheses with
    :func:`joiner_rows`)."""

    def __init__(self, block: nn.Linear) -> None:
        super().__init__()
        self.block = block
        self.adapters = nn.ModuleDict()  # language code -> JoinerAdapter
        self.languages: list[str | None] | None = None

    def forward(self, hidden: Tensor) -> Tensor:
        """hidden (B, ..., H) -> logits (B, ..., V)."""
        logits = self.block(hidden)
        rows = _routed_rows(self.languages, self.adapters, hidden.shape[0])
        for lang, index in rows.items():
            index = torch.tensor(index, device=hidden.device)
            own = self.adapters[lang](hidden.index_select(0, index), logits.index_select(0, index))
            logits = logits.index_copy(0, index, own)
        return logits


def _routed_rows(
    routing: list[str | None] | None, adapters: nn.ModuleDict, batch: int
) -> dict[str, list[int]]:
    """Language -> its rows, for the languages of ``routing`` that have an adapter."""
    if routing is None:
        raise RuntimeError(
            "the model has language adapters but no routing: call "
            "set_languages(model, langs) or use `with languages(model, langs):` first"
        )
    if len(routing) != batch:
        raise ValueError(f"{len(routing)} languages set for a batch of {batch} utterances")
    return {
        lang: [i for i, code in enumerate(routing) if code == lang]
        for lang in sorted({code for code in routing if code in adapters})
    }


@contextlib.contextmanager
def joiner_rows(model: nn.Module, rows: Sequence[int]) -> Iterator[None]:
    """Inside, row i of the joiner's input belongs to batch row ``rows[i]`` (e.g. beam
    search's hypotheses of each utterance); a model without joiner adapters is left alone."""
    out = getattr(getattr(model, "joiner", None), "out", None)
    if not isinstance(out, AdaptedOutput) or out.languages is None:
        yield
        return
    previous = out.languages
    out.languages = [previous[row] for row in rows]
    try:
        yield
    finally:
        out.languages = previous


class FoldedBlock(nn.Module):
    """A Conformer block followed by one adapter for every row (no routing): the block of a
    single-locale model, e.g. one exported to ONNX. Same call as the block it wraps."""

    def __init__(self, block: nn.Module, adapter: BottleneckAdapter) -> None:
        super().__init__()
        self.block = block
        self.adapter = adapter

    def forward(self, x: Tensor, *block_args: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """The block's outputs, its first (B, T, D) through the adapter."""
        x, context, conv_cache = self.block(x, *block_args)
        return self.adapter(x), context, conv_cache


def fold_language(model: Transducer, lang: str | None) -> Transducer:
    """A copy of ``model`` that runs ``lang``'s adapters on every utterance, without routing;
    its joiner parts (bias, LoRA) are folded into the joiner's output layer (exactly).

    Args:
        model: a transducer, with or without adapters (left unchanged).
        lang: the adapter's language; None: the base model alone (every adapter left out).

    Raises:
        SpeechmlError: ``model`` has no adapter for ``lang``.
    """
    if lang is not None:
        _require_language(model, lang)
    folded = copy.deepcopy(model)
    for blocks in _block_lists(folded).values():
        for index, block in enumerate(blocks):
            if isinstance(block, AdaptedBlock):
                inner = block.block
                if lang in block.adapters:
                    inner = FoldedBlock(inner, block.adapters[lang])
                blocks[index] = inner
    out = folded.joiner.out
    if isinstance(out, AdaptedOutput):
        own = out.adapters[lang] if lang in out.adapters else None
        folded.joiner.out = out.block if own is None else own.fold(out.block)
    return folded


def _block_lists(model: Transducer) -> dict[str, nn.ModuleList]:
    """The encoder's block lists by name: ``layers`` (causal) and ``second_pass``."""
    return {"layers": model.encoder.layers, "second_pass": model.encoder.second_pass}


def _adapted_blocks(model: nn.Module) -> Iterator[tuple[str, AdaptedBlock | AdaptedOutput]]:
    """(module path, wrapper) of every adapted block and of the adapted joiner output, e.g.
    ``("encoder.layers.0", block)``, ``("joiner.out", output)``."""
    for name, module in model.named_modules():
        if isinstance(module, (AdaptedBlock, AdaptedOutput)):
            yield name, module


def adapter_languages(model: nn.Module) -> list[str]:
    """The language codes that have adapters in ``model``, sorted."""
    return sorted({lang for _, block in _adapted_blocks(model) for lang in block.adapters})


def _require_language(model: nn.Module, lang: str) -> None:
    present = adapter_languages(model)
    if lang not in present:
        raise SpeechmlError(
            f"the model has no adapter for language {lang!r} "
            f"(it has: {', '.join(present) or 'none'})"
        )


def set_languages(model: nn.Module, languages: Sequence[str | None] | None) -> None:
    """Route each utterance of the next batches to its language's adapter.

    Args:
        model: a model with adapters (a model without any is left alone).
        languages: one code (or None: the base model) per batch row, in batch order, for
            :meth:`ConformerEncoder.forward` and every :meth:`forward_chunk` of a stream;
            None clears the routing (a forward pass then raises).

    Example:
        >>> from speechml.asr.recognizer import Recognizer
        >>> model = Recognizer.load("exp/base/model").model
        >>> add_adapters(model, ["kat", "eng"])
        >>> set_languages(model, ["kat", "eng", None])  # utterance 3 runs the base model
    """
    routing = None if languages is None else list(languages)
    for _, block in _adapted_blocks(model):
        block.languages = routing


@contextlib.contextmanager
def languages(model: nn.Module, codes: Sequence[str | None]) -> Iterator[None]:
    """Context manager form of :func:`set_languages`; restores the previous routing on exit."""
    previous = {name: block.languages for name, block in _adapted_blocks(model)}
    set_languages(model, codes)
    try:
        yield
    finally:
        for name, block in _adapted_blocks(model):
            block.languages = previous.get(name)


def _check_language_code(lang: str) -> None:
    if not isinstance(lang, str) or not lang or "." in lang:
        raise ConfigError(f"invalid language code {lang!r}: a non-empty string without '.'")


def _target_blocks(model: Transducer, config: AdapterConfig) -> list[tuple[nn.ModuleList, int]]:
    """(block list, index) of every block that ``config`` puts an adapter in."""
    causal = model.encoder.layers
    indices = list(range(len(causal))) if config.layers is None else config.layers
    for index in indices:
        if not 0 <= index < len(causal):
            raise ConfigError(
                f"adapter layers: block {index} does not exist "
                f"(the encoder has {len(causal)} causal blocks, 0..{len(causal) - 1})"
            )
    targets = [(causal, index) for index in sorted(set(indices))]
    if config.second_pass:
        second = model.encoder.second_pass
        targets += [(second, index) for index in range(len(second))]
    return targets


def add_adapters(
    model: Transducer, languages: Iterable[str], config: AdapterConfig | None = None
) -> None:
    """Add a fresh adapter set for each language to ``model``, in place.

    Blocks are wrapped in :class:`AdaptedBlock` the first time; a model that already has
    adapters for other languages keeps them. New adapters are trainable and on the device and
    dtype of their block; the base parameters are left as they are (see :func:`freeze_base`).

    Args:
        model: the transducer.
        languages: codes (ISO 639-3), none of which may already have an adapter.
        config: size and placement (default :class:`AdapterConfig`); stored on each adapter
            with ``layers`` resolved to the list of block indices.

    Raises:
        ConfigError: a block index that does not exist or an invalid code.
        SpeechmlError: a language that already has an adapter.
    """
    config = config or AdapterConfig()
    languages = list(languages)
    present = adapter_languages(model)
    for lang in languages:
        _check_language_code(lang)
        if lang in present:
            raise SpeechmlError(f"the model already has an adapter for language {lang!r}")
        if languages.count(lang) > 1:
            raise SpeechmlError(f"language {lang!r} is listed twice")
    targets = _target_blocks(model, config)
    resolved = dataclasses.replace(
        config, layers=sorted({i for blocks, i in targets if blocks is model.encoder.layers})
    )
    routing = next((block.languages for _, block in _adapted_blocks(model)), None)
    with_joiner = config.joiner_bias or config.joiner_lora_rank > 0
    if config.joiner_lora_rank < 0:
        raise ConfigError(f"adapter joiner_lora_rank {config.joiner_lora_rank}: 0 or more")
    if not targets and not with_joiner:
        raise ConfigError("the adapter has no part: no encoder layer, no joiner bias or LoRA")
    if with_joiner and not isinstance(model.joiner.out, AdaptedOutput):
        model.joiner.out = AdaptedOutput(model.joiner.out)
        model.joiner.out.languages = routing
    for lang in languages:
        for blocks, index in targets:
            if not isinstance(blocks[index], AdaptedBlock):
                blocks[index] = AdaptedBlock(blocks[index])
                blocks[index].languages = routing
            reference = next(blocks[index].block.parameters())
            adapter = BottleneckAdapter(model.config.encoder.d_model, resolved)
            blocks[index].adapters[lang] = adapter.to(reference.device, reference.dtype)
        if with_joiner:
            out = model.joiner.out
            part = JoinerAdapter(out.block.in_features, out.block.out_features, resolved)
            out.adapters[lang] = part.to(out.block.weight.device, out.block.weight.dtype)


def remove_adapter(model: Transducer, lang: str) -> None:
    """Remove ``lang``'s adapters; blocks left without any adapter are unwrapped."""
    _require_language(model, lang)
    for blocks in _block_lists(model).values():
        for index, block in enumerate(blocks):
            if isinstance(block, AdaptedBlock) and lang in block.adapters:
                del block.adapters[lang]
                if not len(block.adapters):
                    blocks[index] = block.block
    out = model.joiner.out
    if isinstance(out, AdaptedOutput) and lang in out.adapters:
        del out.adapters[lang]
        if not len(out.adapters):
            model.joiner.out = out.block


def adapter_config(model: nn.Module, lang: str) -> AdapterConfig:
    """The (resolved) config of ``lang``'s adapters."""
    _require_language(model, lang)
    return next(b.adapters[lang].config for _, b in _adapted_blocks(model) if lang in b.adapters)


def freeze_base(model: nn.Module, languages: Iterable[str] | None = None) -> None:
    """Make only adapter parameters trainable (``requires_grad``); the base is frozen.

    Args:
        model: a model with adapters.
        languages: the languages whose adapters train; default: every adapter.
    """
    trainable = set(adapter_languages(model) if languages is None else languages)
    for lang in trainable:
        _require_language(model, lang)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for _, block in _adapted_blocks(model):
        for lang, adapter in block.adapters.items():
            adapter.requires_grad_(lang in trainable)


def adapter_parameters(model: nn.Module, lang: str) -> int:
    """Parameter count of ``lang``'s adapters (all blocks)."""
    _require_language(model, lang)
    return sum(
        p.numel()
        for _, block in _adapted_blocks(model)
        if lang in block.adapters
        for p in block.adapters[lang].parameters()
    )


def base_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The base model's state (no adapter), named as in the same model without adapters.

    Example:
        >>> from speechml.asr.recognizer import Recognizer
        >>> model = Recognizer.load("exp/base/model").model
        >>> add_adapters(model, ["kat"])
        >>> plain = Transducer(model.config)
        >>> plain.load_state_dict(base_state_dict(model))
        <All keys matched successfully>
    """
    wrappers = [name + "." for name, _ in _adapted_blocks(model)]
    state = {}
    for key, tensor in model.state_dict().items():
        prefix = next((p for p in wrappers if key.startswith(p)), None)
        if prefix is None:
            state[key] = tensor
        elif key.startswith(prefix + "block."):
            state[prefix + key[len(prefix) + len("block.") :]] = tensor
    return state


def base_parameters(model: nn.Module) -> int:
    """Parameter count of the base model (every parameter outside adapters)."""
    adapters = sum(p.numel() for _, b in _adapted_blocks(model) for p in b.adapters.parameters())
    return sum(p.numel() for p in model.parameters()) - adapters


def adapter_percent(model: nn.Module, lang: str) -> float:
    """``lang``'s adapter size as a percentage of the base model's parameters."""
    return 100.0 * adapter_parameters(model, lang) / base_parameters(model)


def base_fingerprint(model: nn.Module) -> str:
    """sha256 (hex) over the base weights' names, dtypes, shapes and bytes, adapters excluded.

    Equal for a model before and after :func:`add_adapters` and adapter training.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(base_state_dict(model).items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy())
    return digest.hexdigest()


def save_adapter(
    model: Transducer,
    lang: str,
    out_dir: str | Path,
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Write ``lang``'s adapter alone: ``adapter_config.json`` + ``adapter_model.safetensors``.

    The weights are named ``<block path>.<parameter>`` (``encoder.layers.0.down.weight``),
    without the language, as peft does. Each file is written atomically. ``extra`` adds
    JSON-able facts to ``adapter_config.json`` (e.g. ``best_step``); loading ignores them.

    Returns:
        ``out_dir``.
    """
    _require_language(model, lang)
    out_dir = Path(out_dir)
    tensors = {
        f"{path}.{key}": value
        for path, block in _adapted_blocks(model)
        if lang in block.adapters
        for key, value in block.adapters[lang].state_dict().items()
    }
    config = adapter_config(model, lang)
    record = {
        "peft_type": PEFT_TYPE,
        "language": lang,
        **to_dict(config),
        "base_model_fingerprint": base_fingerprint(model),
        "num_parameters": adapter_parameters(model, lang),
        "percent_of_model": round(adapter_percent(model, lang), 4),
        **(extra or {}),
    }
    save_safetensors(tensors, out_dir / ADAPTER_WEIGHTS)
    atomic_write_text(out_dir / ADAPTER_CONFIG, json.dumps(record, indent=1) + "\n")
    return out_dir


def read_adapter_config(adapter_dir: str | Path) -> dict:
    """The ``adapter_config.json`` of ``adapter_dir``, checked to be one of ours."""
    path = Path(adapter_dir) / ADAPTER_CONFIG
    record = read_json(path)
    if record.get("peft_type") != PEFT_TYPE:
        raise SpeechmlError(
            f"{path}: peft_type {record.get('peft_type')!r} is not {PEFT_TYPE!r} "
            "(not a speechml language adapter)"
        )
    for key in ("language", "base_model_fingerprint"):
        if not isinstance(record.get(key), str):
            raise SpeechmlError(f"{path}: {key!r} is missing")
    return record


def load_adapter(model: Transducer, adapter_dir: str | Path) -> str:
    """Load an adapter written by :func:`save_adapter` into ``model`` (safetensors only).

    The model's base must be the one the adapter was trained on (:func:`base_fingerprint`).
    An adapter the model already has for that language is replaced.

    Returns:
        the adapter's language code.

    Raises:
        SpeechmlError: another base (naming the directory and both fingerprints), a missing
            or foreign file, or weights that do not match the config.
    """
    adapter_dir = Path(adapter_dir)
    record = read_adapter_config(adapter_dir)
    lang = record["language"]
    expected, actual = record["base_model_fingerprint"], base_fingerprint(model)
    if expected != actual:
        raise SpeechmlError(
            f"{adapter_dir}: the adapter for {lang!r} was trained on base model "
            f"{expected[:12]}, but this model's base is {actual[:12]}"
        )
    fields = {f.name for f in dataclasses.fields(AdapterConfig)}
    config = from_dict(
        AdapterConfig,
        {k: v for k, v in record.items() if k in fields},
        str(adapter_dir / ADAPTER_CONFIG),
    )
    weights_path = adapter_dir / ADAPTER_WEIGHTS
    tensors = load_safetensors(weights_path)
    if lang in adapter_languages(model):
        remove_adapter(model, lang)
    add_adapters(model, [lang], config)
    expected_keys = set()
    for path, block in _adapted_blocks(model):
        if lang in block.adapters:
            own = {k: tensors.get(f"{path}.{k}") for k in block.adapters[lang].state_dict()}
            expected_keys.update(f"{path}.{k}" for k in own)
            missing = sorted(f"{path}.{k}" for k, v in own.items() if v is None)
            if missing:
                raise SpeechmlError(f"{weights_path}: {missing[0]} is missing")
            load_state_into(block.adapters[lang], own, weights_path)
    unexpected = sorted(set(tensors) - expected_keys)
    if unexpected:
        raise SpeechmlError(f"{weights_path}: unexpected weight {unexpected[0]} for the config")
    return lang


def merge_adapters(model: Transducer, adapter_dirs: Mapping[str, str | Path]) -> Transducer:
    """Load each language's adapter into ``model`` (in place) and return it.

    Args:
        model: the base the adapters were trained on (fingerprints are checked).
        adapter_dirs: language code -> adapter directory (e.g. its best dev checkpoint's).

    Example:
        >>> from speechml.asr.recognizer import Recognizer
        >>> for lang in ("kat", "ell"):  # each language's adapter, trained on the same base
        ...     tuned = Recognizer.load("exp/base/model").model
        ...     add_adapters(tuned, [lang])
        ...     _ = save_adapter(tuned, lang, f"exp/lda_{lang}/adapter")
        >>> base = Recognizer.load("exp/base/model").model
        >>> merged = merge_adapters(base, {"kat": "exp/lda_kat/adapter",
        ...                                "ell": "exp/lda_ell/adapter"})
        >>> adapter_languages(merged)
        ['ell', 'kat']
    """
    for lang, directory in sorted(adapter_dirs.items()):
        found = read_adapter_config(directory)["language"]
        if found != lang:
            raise SpeechmlError(f"{directory}: the adapter is for {found!r}, not {lang!r}")
        load_adapter(model, directory)
    return model


def save_multilingual(model: Transducer, out_dir: str | Path) -> Path:
    """Write the base (config JSON + safetensors) and every adapter into ``out_dir``.

    Other files in ``out_dir`` (a tokenizer, fbank options) are left alone; ``adapters/`` is
    written beside it and then swapped in whole, so no adapter of an earlier save remains.
    """
    out_dir = Path(out_dir)
    with atomic_dir(out_dir / ADAPTERS_DIR) as staging:
        for lang in adapter_languages(model):
            save_adapter(model, lang, staging / lang)
        save_safetensors(base_state_dict(model), out_dir / BASE_WEIGHTS)
        config = json.dumps(to_dict(model.config), indent=1) + "\n"
        atomic_write_text(out_dir / MODEL_CONFIG, config)
    return out_dir


def load_multilingual(model_dir: str | Path, device: str | torch.device = "cpu") -> Transducer:
    """Load a directory written by :func:`save_multilingual`, in eval mode.

    The routing is not set: call :func:`set_languages` before a forward pass.

    Raises:
        ConfigError: ``model_config.json`` is missing, not JSON or holds unknown keys.
        ModelError: it describes no buildable model (e.g. ``vocab_size`` 0), or the weights
            (base or adapter) are missing, corrupt or do not fit it (naming the file).
    """
    model_dir = Path(model_dir)
    config_path = model_dir / MODEL_CONFIG
    config = from_dict(TransducerConfig, read_json(config_path), str(config_path))
    try:
        model = Transducer(config)
    except (ValueError, RuntimeError, AssertionError) as err:  # sizes no model can have
        raise ModelError(f"cannot build the model it describes: {err}", config_path) from None
    weights_path = model_dir / BASE_WEIGHTS
    load_state_into(model, load_safetensors(weights_path), weights_path)
    adapters = model_dir / ADAPTERS_DIR
    if adapters.is_dir():
        for adapter_dir in sorted(p for p in adapters.iterdir() if p.is_dir()):
            load_adapter(model, adapter_dir)
    return model.to(device).eval()
