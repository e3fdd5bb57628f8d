"""Train transducer recognisers through the shared trainer: from scratch, fine-tuned, or adapters.

A fourth start: a trained recogniser's encoder and front end (fbank options, CMVN) under a new
tokenizer, with a new predictor, joiner and CTC head (:func:`encoder_initialised_recognizer`):
e.g. a recogniser of uroman-romanized text made from a native-script one by a short fine-tune.

Each verb has its config (YAML in ``egs/<lang>/conf/``), and refuses the sections it does not
use: :class:`AsrTrainConfig` (``train``: the model, the front end, the optimisation and
augmentation), :class:`FinetuneConfig` (``train --init``: no model or front end, the tuned
model's are kept) and :class:`AdapterTrainConfig` (``train-adapter``: the adapters' size and
placement instead). Validation decodes part of the dev set
greedily and reports ``dev_wer``/``dev_cer`` (and the loss), so the best checkpoint is the one
with the lowest dev WER. The result is a model directory (:class:`Recognizer`) at
``exp_dir/model``; an adapter run also writes the adapter alone to ``exp_dir/adapter``, and a
run of several languages' adapters (:func:`train_adapters`) each language's adapter from the
step where that language's dev WER was best to ``exp_dir/adapters/<lang>``.

Every batch carries the language of each utterance; a model with language adapters routes each
utterance to its language's adapter (others run the base).

Example:
    >>> from speechml.config import load_config
    >>> config = load_config(AsrTrainConfig, "conf/asr.yaml")
    >>> recognizer = train_asr(config, "data/train", "data/dev", "exp/asr", "data/lang_char")
    >>> recognizer.model.config.vocab_size == recognizer.tokenizer.vocab_size
    True
    >>> sorted(path.name for path in Path("exp/asr/model").iterdir())
    ['adapters', 'fbank.json', 'model.safetensors', 'model_config.json', 'tokenizer']
    >>> rom = train_asr(config, "data/train", "data/dev", "exp/rom", "data/lang_char",
    ...                 init_encoder_from="exp/asr/model")  # new heads on its encoder
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from speechml.asr.adapters import (
    BEST_STEPS,
    AdapterConfig,
    adapter_languages,
    adapter_percent,
    add_adapters,
    freeze_base,
    merge_adapters,
    remove_adapter,
    save_adapter,
    set_languages,
)
from speechml.asr.data import AsrDataset, collate_asr
from speechml.asr.recognizer import Recognizer
from speechml.asr.search import ctc_greedy_search, greedy_search
from speechml.asr.transducer import Transducer, TransducerConfig
from speechml.data.augment import SpecAugment, SpecAugmentConfig
from speechml.data.datadir import DataDir
from speechml.data.features import CmvnStats, FbankConfig
from speechml.data.ops import at_most, subset_data_dir, utts_per_language
from speechml.data.tokenizer import Tokenizer, load_tokenizer
from speechml.errors import ConfigError, DataError
from speechml.io import atomic_write_text
from speechml.plots import save_curves
from speechml.score.wer import score_wer
from speechml.train.checkpoint import CheckpointInfo, load_model_weights
from speechml.train.curves import read_metrics
from speechml.train.trainer import TrainConfig, Trainer, TrainResult

logger = logging.getLogger(__name__)


@dataclass
class FitConfig:
    """What every transducer run's optimisation needs: the fields the three verbs' configs
    share (:class:`AsrTrainConfig`, :class:`FinetuneConfig`, :class:`AdapterTrainConfig`)."""

    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(best_metric="dev_wer", best_mode="min")
    )  # optimisation and bookkeeping
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)  # masking
    use_spec_augment: bool = True  # apply SpecAugment to training batches
    spec_augment_start_step: int = 0  # masking starts at this step: a model trained from
    # scratch learns to align several times faster on unmasked features, then masking pays
    valid_utts: int = 200  # dev utterances decoded at each validation (random, fixed)
    average_last: int = 0  # >0: the final model averages the last N checkpoints; 0: best one
    loss_warmup_steps: int = 0  # pruned loss (model.loss: pruned): steps in which the simple
    # loss's weight falls from 1.0 to model.simple_loss_scale and the pruned loss's rises from
    # 0.1 to 1.0 (icefall's warm-up, for training from scratch); 0: no warm-up


@dataclass
class AsrTrainConfig(FitConfig):
    """``speechml asr train``: a transducer from scratch, or from another's encoder."""

    NOT_USED: ClassVar[dict[str, str]] = {
        "adapter": "adapters are trained by train-adapter, with an AdapterTrainConfig"
    }
    model: TransducerConfig = field(default_factory=TransducerConfig)  # vocab_size from tokenizer
    fbank: FbankConfig = field(default_factory=FbankConfig)  # front end


@dataclass
class FinetuneConfig(FitConfig):
    """``speechml asr train --init``: every weight of a trained model fine-tuned."""

    NOT_USED: ClassVar[dict[str, str]] = {
        "model": "the architecture is the --init model's",
        "fbank": "the front end is the --init model's",
        "adapter": "the --init model's adapters, if any, are fine-tuned as they are",
    }


@dataclass
class AdapterTrainConfig(FitConfig):
    """``speechml asr train-adapter``: language adapters on a frozen base."""

    NOT_USED: ClassVar[dict[str, str]] = {
        "model": "the base model's architecture is kept (--model)",
        "fbank": "the front end is the base model's (--model)",
    }
    adapter: AdapterConfig = field(default_factory=AdapterConfig)  # size and placement


def _route(model: torch.nn.Module, batch: dict[str, Any], language: str | None) -> None:
    """Send each utterance to its language's adapter, or all to ``language`` when given."""
    if adapter_languages(model):
        set_languages(
            model, batch["langs"] if language is None else [language] * len(batch["langs"])
        )


def make_step_hook(
    config: FitConfig, augment: SpecAugment | None
) -> Callable[[torch.nn.Module, int], None]:
    """Before each step: the pruned loss's warm-up weights, and SpecAugment on from its step."""

    def hook(model: torch.nn.Module, step: int) -> None:
        model.set_loss_scales(step, config.loss_warmup_steps)
        if augment is not None:
            augment.train(step >= config.spec_augment_start_step)  # eval mode: no masking

    return hook


def make_loss_fn(
    augment: SpecAugment | None, language: str | None = None
) -> Callable[[torch.nn.Module, Any], Any]:
    """The trainer's loss: SpecAugment (training only) then the transducer loss per token."""

    def loss_fn(model: torch.nn.Module, batch: dict[str, Any]) -> Any:
        _route(model, batch, language)
        feats = batch["feats"]
        if augment is not None:
            feats = augment(feats, batch["feat_lengths"])
        return model(feats, batch["feat_lengths"], batch["targets"], batch["target_lengths"])

    return loss_fn


def make_valid_fn(
    dataset: AsrDataset,
    recognizer: Recognizer,
    language: str | None = None,
    batch_size: int = 32,
    per_language: Sequence[str] = (),
) -> Callable[[torch.nn.Module], dict[str, float]]:
    """Validation: loss and greedy WER/CER of the causal pass at the streaming chunk size on
    ``dataset`` (with the CTC head when only CTC trains); a model trained with full context
    among its dynamic chunk sizes also gets ``dev_wer_full``/``dev_cer_full``, its
    whole-utterance pass. A transducer with a CTC head also reports that head's greedy CER
    (``dev_cer_ctc``, causal pass), the figure its transducer must not fall behind. Each
    language of ``per_language`` also gets ``dev_wer_<lang>``/``dev_cer_<lang>`` (causal
    pass; its utterances by ``utt2lang``; left out while it has no reference word)."""
    with_full = 0 in recognizer.model.config.encoder.train_chunk_sizes
    with_ctc = not recognizer.model.config.ctc_only and recognizer.model.config.ctc_weight > 0

    def valid_fn(model: torch.nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        search = ctc_greedy_search if model.config.ctc_only else greedy_search
        refs, hyps, hyps_full, hyps_ctc, loss_sum, tokens = {}, {}, {}, {}, 0.0, 0
        for start in range(0, len(dataset), batch_size):
            batch = collate_asr(
                [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
            )
            _route(model, batch, language)
            feats, lengths = batch["feats"].to(device), batch["feat_lengths"].to(device)
            out = model.encoder(feats, lengths)
            targets, target_lengths = (
                batch["targets"].to(device),
                batch["target_lengths"].to(device),
            )
            loss, _ = model.loss(out, targets, target_lengths)
            n = int(batch["target_lengths"].sum())
            loss_sum, tokens = loss_sum + float(loss) * n, tokens + n
            found = search(model, out.causal, out.lengths)
            if with_ctc:
                found_ctc = ctc_greedy_search(model, out.causal, out.lengths)
            if with_full:
                full = model.encoder(feats, lengths, chunk_size=0)
                found_full = search(model, full.causal, full.lengths)
            for i, (utt, hyp) in enumerate(zip(batch["utts"], found, strict=True)):
                hyps[utt] = recognizer.tokenizer.decode(hyp.tokens)
                refs[utt] = dataset.data.text[utt]
                if with_full:
                    hyps_full[utt] = recognizer.tokenizer.decode(found_full[i].tokens)
                if with_ctc:
                    hyps_ctc[utt] = recognizer.tokenizer.decode(found_ctc[i].tokens)
        utt2lang = dataset.data.utt2lang if per_language else None
        report = score_wer(refs, hyps, utt2lang=utt2lang)
        metrics = {
            "valid_loss": loss_sum / max(1, tokens),
            "dev_wer": report.total.words.rate,
            "dev_cer": report.total.chars.rate,
        }
        for lang in per_language:
            score = report.per_lang.get(lang)
            if score is not None and score.words.rate is not None:
                metrics[f"dev_wer_{lang}"] = score.words.rate
                metrics[f"dev_cer_{lang}"] = score.chars.rate
        if with_full:
            full_report = score_wer(refs, hyps_full)
            metrics["dev_wer_full"] = full_report.total.words.rate
            metrics["dev_cer_full"] = full_report.total.chars.rate
        if with_ctc:
            metrics["dev_cer_ctc"] = score_wer(refs, hyps_ctc).total.chars.rate
        return metrics

    return valid_fn


def fit_recognizer(
    recognizer: Recognizer,
    config: FitConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    language: str | None = None,
    per_language: Sequence[str] = (),
) -> TrainResult:
    """Train (or resume) ``recognizer.model``'s trainable parameters; put the final weights
    (the best dev checkpoint, or the average of the last ``config.average_last``) into it.

    With ``language``, every utterance is routed to that language's adapter (adapter training);
    otherwise each goes to the adapter of its ``utt2lang`` language, if the model has one.
    With ``per_language``, validation decodes up to ``config.valid_utts`` dev utterances of
    each of those languages and scores each one apart (``dev_wer_<lang>``); otherwise up to
    ``config.valid_utts`` of the whole dev set.
    """
    model = recognizer.model
    train_set = recognizer.dataset(DataDir.read(train_dir), with_text=True)
    dev_data = DataDir.read(dev_dir)
    if per_language:
        dev_data = subset_data_dir(dev_data, utts_per_language(dev_data, config.valid_utts))
    else:
        dev_data = at_most(dev_data, config.valid_utts)
    dev_set = recognizer.dataset(dev_data, with_text=True)
    augment = SpecAugment(config.spec_augment) if config.use_spec_augment else None
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "model: %.2fM parameters (%.2fM trainable); %d training utterances (%.2f h)",
        model.num_parameters() / 1e6,
        trainable / 1e6,
        len(train_set),
        sum(train_set.durations) / 3600,
    )
    trainer = Trainer(
        model,
        make_loss_fn(augment, language),
        train_set,
        train_set.durations,
        collate_asr,
        config.train,
        exp_dir,
        valid_fn=make_valid_fn(dev_set, recognizer, language, per_language=per_language),
        step_hook=make_step_hook(config, augment),
    )
    recognizer.model, result = trainer.fit_best(config.average_last)
    if recognizer.tokenizer.unknown:
        unknown = dict(recognizer.tokenizer.unknown.most_common(10))
        logger.warning("characters outside the vocabulary (mapped to <unk>): %s", unknown)
    return result


def train_recognizer(
    recognizer: Recognizer,
    config: FitConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    language: str | None = None,
) -> Recognizer:
    """:func:`fit_recognizer`, then write the model directory to ``exp_dir/model``."""
    fit_recognizer(recognizer, config, train_dir, dev_dir, exp_dir, language)
    recognizer.save(Path(exp_dir) / "model")
    return recognizer


def _differences(used: Any, ignored: Any) -> str:
    """``"d_model 32 (not 144), num_layers 2 (not 6)"``: the fields where two dataclasses differ."""
    return ", ".join(
        f"{f.name} {getattr(used, f.name)!r} (not {getattr(ignored, f.name)!r})"
        for f in dataclasses.fields(used)
        if getattr(used, f.name) != getattr(ignored, f.name)
    )


def encoder_initialised_recognizer(
    model_config: TransducerConfig,
    fbank: FbankConfig,
    tokenizer: Tokenizer,
    source_dir: str | Path,
) -> Recognizer:
    """A new recogniser for ``tokenizer`` whose encoder and front end are ``source_dir``'s.

    The encoder (config and weights, BatchNorm statistics included), the fbank options and the
    CMVN statistics are copied from the recogniser directory ``source_dir``; the predictor and
    joiner are new, sized by ``model_config`` for ``tokenizer.vocab_size``, and so is the CTC
    head unless the two vocabularies are the same (a CTC stage's encoder and head go on). The
    source's language adapters are not copied (a warning names them). ``model_config.encoder``
    and ``fbank`` are not used: where they are set (not the defaults) and differ from the
    source's, a warning says so.

    Args:
        model_config: the predictor and joiner sizes and the loss weights of the new model.
        fbank: the experiment's fbank options (only compared with the source's).
        tokenizer: the new vocabulary (e.g. uroman-romanized characters).
        source_dir: a model directory (:meth:`Recognizer.save`).

    Example:
        >>> from speechml.config import load_config
        >>> config = load_config(AsrTrainConfig, "conf/asr.yaml")
        >>> tokenizer = load_tokenizer("data/lang_char")
        >>> rom = encoder_initialised_recognizer(config.model, config.fbank, tokenizer,
        ...                                      "exp/base/model")
        >>> rom.model.config.vocab_size == tokenizer.vocab_size
        True
    """
    source = Recognizer.load(source_dir)
    languages = adapter_languages(source.model)
    if languages:
        logger.warning(
            "%s: its adapters (%s) are not copied, only the base encoder",
            source_dir,
            ", ".join(languages),
        )
        for lang in languages:
            remove_adapter(source.model, lang)
    encoder_config = source.model.config.encoder
    for name, used, ignored in (
        ("model.encoder", encoder_config, model_config.encoder),
        ("fbank", source.fbank, fbank),
    ):
        if used != ignored and ignored != type(ignored)():  # set in the config, and not used
            logger.warning(
                "config %s is not used, %s's is: %s", name, source_dir, _differences(used, ignored)
            )
    model = Transducer(
        replace(model_config, vocab_size=tokenizer.vocab_size, encoder=encoder_config)
    )
    model.encoder.load_state_dict(source.model.encoder.state_dict())
    same_vocabulary = source.tokenizer.tokens == tokenizer.tokens
    if same_vocabulary:
        model.ctc_head.load_state_dict(source.model.ctc_head.state_dict())
    logger.info(
        "%s, fbank options and CMVN of %s; new %s for %d tokens",
        "encoder and CTC head" if same_vocabulary else "encoder",
        source_dir,
        "predictor and joiner" if same_vocabulary else "predictor, joiner and CTC head",
        tokenizer.vocab_size,
    )
    return Recognizer(model, tokenizer, source.fbank, source.cmvn)


def check_starting_point(
    tokenizer_dir: str | Path | None = None,
    cmvn_path: str | Path | None = None,
    init_from: str | Path | None = None,
    init_encoder_from: str | Path | None = None,
) -> None:
    """Refuse a combination of ``speechml asr train``'s starting points (:func:`train_asr`,
    :func:`finetune_asr`) that would drop one of them.

    Raises:
        ConfigError: both ``init_from`` and ``init_encoder_from``; ``init_from`` with a tokenizer
            or CMVN (the model's are used); ``init_encoder_from`` without a tokenizer or with a
            CMVN (the encoder's is used); neither, and no tokenizer.
    """
    if init_from is not None and init_encoder_from is not None:
        raise ConfigError(
            f"--init {init_from} (fine-tune a whole model) and --init-encoder "
            f"{init_encoder_from} (its encoder under a new tokenizer) exclude each other"
        )
    if init_from is not None and (tokenizer_dir is not None or cmvn_path is not None):
        raise ConfigError(
            f"--init {init_from} fine-tunes with that model's tokenizer and CMVN: drop "
            "--tokenizer and --cmvn (or use --init-encoder for a new tokenizer)"
        )
    if init_encoder_from is not None and tokenizer_dir is None:
        raise ConfigError(
            f"--init-encoder {init_encoder_from} needs --tokenizer (the new vocabulary)"
        )
    if init_encoder_from is not None and cmvn_path is not None:
        raise ConfigError(
            f"--cmvn {cmvn_path} is not allowed with --init-encoder {init_encoder_from}: the "
            "encoder keeps the CMVN it was trained with"
        )
    if init_from is None and tokenizer_dir is None:
        raise ConfigError("--tokenizer is required unless --init gives a model to fine-tune")


def train_asr(
    config: AsrTrainConfig,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    tokenizer_dir: str | Path,
    cmvn_path: str | Path | None = None,
    init_encoder_from: str | Path | None = None,
) -> Recognizer:
    """Train a transducer from scratch, or from another recogniser's encoder.

    Args:
        config: the experiment config; ``model.vocab_size`` is taken from the tokenizer. From
            an encoder, ``config.model.encoder`` and ``config.fbank`` are not used (those of
            ``init_encoder_from`` are).
        train_dir, dev_dir: data dirs with ``text``.
        exp_dir: the experiment directory.
        tokenizer_dir: a saved tokenizer (``speechml data train-tokenizer``).
        cmvn_path: CMVN statistics, or None for none; from scratch only.
        init_encoder_from: a model directory whose encoder, fbank options and CMVN start a new
            model for ``tokenizer_dir`` (see :func:`encoder_initialised_recognizer`); every
            weight then trains.

    Raises:
        ConfigError: a combination of the above that :func:`check_starting_point` refuses.
    """
    check_starting_point(tokenizer_dir, cmvn_path, None, init_encoder_from)
    torch.manual_seed(config.train.seed)
    tokenizer = load_tokenizer(tokenizer_dir)
    if init_encoder_from is not None:
        recognizer = encoder_initialised_recognizer(
            config.model, config.fbank, tokenizer, init_encoder_from
        )
    else:
        model = Transducer(replace(config.model, vocab_size=tokenizer.vocab_size))
        cmvn = CmvnStats.load(cmvn_path) if cmvn_path else None
        recognizer = Recognizer(model, tokenizer, config.fbank, cmvn)
    return train_recognizer(recognizer, config, train_dir, dev_dir, exp_dir)


def finetune_asr(
    config: FinetuneConfig,
    init_from: str | Path,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
) -> Recognizer:
    """Fine-tune every weight of the model directory ``init_from`` (its adapters, if any,
    are kept and trained); its architecture, tokenizer and front end are kept.

    Example:
        >>> from speechml.config import load_config
        >>> config = load_config(FinetuneConfig, "conf/finetune.yaml")
        >>> tuned = finetune_asr(config, "exp/base/model", "data/train", "data/dev",
        ...                      "exp/finetune")
        >>> Path("exp/finetune/model/model.safetensors").is_file()
        True
    """
    torch.manual_seed(config.train.seed)
    recognizer = Recognizer.load(init_from)
    recognizer.model.requires_grad_(True)
    logger.info("fine-tuning every weight of %s", init_from)
    return train_recognizer(recognizer, config, train_dir, dev_dir, exp_dir)


def _check_languages(data: DataDir, langs: Sequence[str]) -> None:
    """Adapters learn from their own languages only: an utterance of another language in
    ``utt2lang`` is an error, and so, with several languages, is one without a language or a
    language without an utterance (its adapter would not train)."""
    wanted = set(langs)
    where = data.path / "utt2lang" if data.path else "utt2lang"
    names = ",".join(langs)
    others = sorted({code for code in data.utt2lang.values() if code not in wanted})
    if others:
        count = sum(code not in wanted for code in data.utt2lang.values())
        raise DataError(
            f"{count} utterances are not {names} but {', '.join(others)}; an adapter trains on "
            f"its own language (speechml data subset --lang {langs[0]})",
            where,
        )
    if len(langs) > 1:
        unrouted = [utt for utt in data.utts if utt not in data.utt2lang]
        if unrouted:
            raise DataError(
                f"{len(unrouted)} utterances have no language (e.g. {unrouted[0]}): "
                f"adapters of {names} route each utterance by utt2lang",
                where,
            )
        absent = sorted(wanted - set(data.utt2lang.values()))
        if absent:
            raise DataError(f"no utterance of {', '.join(absent)}", where)


def _adapter_recognizer(
    config: AdapterTrainConfig,
    base_dir: str | Path,
    langs: Sequence[str],
    init_adapters: Mapping[str, str | Path],
) -> Recognizer:
    """The base of ``base_dir`` with a trainable adapter for each of ``langs`` (new, sized by
    ``config.adapter``, or the one of ``init_adapters`` with its own size), everything else
    frozen; each adapter's share of the model is logged."""
    foreign = sorted(set(init_adapters) - set(langs))
    if foreign:
        raise ConfigError(f"initial adapters of {', '.join(foreign)}: not trained in this run")
    torch.manual_seed(config.train.seed)
    recognizer = Recognizer.load(base_dir)
    present = sorted(set(langs) & set(adapter_languages(recognizer.model)))
    if present:
        raise ValueError(f"{base_dir} already has an adapter for {', '.join(present)}")
    new = [lang for lang in langs if lang not in init_adapters]
    add_adapters(recognizer.model, new, config.adapter)
    merge_adapters(recognizer.model, init_adapters)
    for lang, directory in sorted(init_adapters.items()):
        logger.info("adapter %s starts from %s", lang, directory)
    freeze_base(recognizer.model, langs)
    for lang in langs:
        share = adapter_percent(recognizer.model, lang)
        logger.info("adapter %s: %.2f%% of the model", lang, share)
    return recognizer


def train_adapter(
    config: AdapterTrainConfig,
    base_dir: str | Path,
    lang: str,
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    init_adapter: str | Path | None = None,
) -> Recognizer:
    """Train one language's adapter on a frozen base model directory.

    Only the adapter of ``lang`` is trained (``config.adapter`` sets its size and placement, or
    it starts from ``init_adapter``, e.g. the previous noisy-student iteration's adapter, and
    keeps that one's size); every base weight stays bit-identical. Every utterance of
    ``train_dir`` and ``dev_dir`` must be of ``lang`` (or have no ``utt2lang``). Writes
    ``exp_dir/model`` (base + adapter, routed by ``utt2lang``) and ``exp_dir/adapter`` (the
    adapter alone, in peft's layout, with the fingerprint of its base). The model, tokenizer
    and front end come from ``base_dir``.
    """
    for path in (train_dir, dev_dir):
        _check_languages(DataDir.read(path), [lang])
    init = {} if init_adapter is None else {lang: init_adapter}
    recognizer = _adapter_recognizer(config, base_dir, [lang], init)
    recognizer = train_recognizer(recognizer, config, train_dir, dev_dir, exp_dir, language=lang)
    save_adapter(recognizer.model, lang, Path(exp_dir) / "adapter")
    return recognizer


def language_bests(result: TrainResult, langs: Sequence[str]) -> dict[str, CheckpointInfo]:
    """Each language's best checkpoint by ``dev_wer_<lang>``; the last checkpoint for a
    language that no validation scored (with a warning)."""
    bests = {}
    for lang in langs:
        best = result.best_of.get(f"dev_wer_{lang}")
        if best is None:
            logger.warning("%s: no dev WER at any validation; its last adapter is kept", lang)
            best = result.last
        bests[lang] = best
    return bests


def train_adapters(
    config: AdapterTrainConfig,
    base_dir: str | Path,
    langs: Sequence[str],
    train_dir: str | Path,
    dev_dir: str | Path,
    exp_dir: str | Path,
    init_adapters: Mapping[str, str | Path] | None = None,
) -> Recognizer:
    """Train the adapters of several languages in one run on a frozen base model directory.

    Batches mix the languages; each utterance goes through its own language's adapter (by
    ``utt2lang``, which every utterance of ``train_dir`` and ``dev_dir`` must have, in
    ``langs``). Each validation scores up to ``config.valid_utts`` dev utterances of every
    language (``dev_wer_<lang>``, ``dev_cer_<lang>``), and each language's best checkpoint is
    kept (``TrainConfig.keep_best_of``): the languages peak at different steps. The base stays
    bit-identical. Writes, besides the trainer's files:

    - ``exp_dir/adapters/<lang>/``: that language's adapter from its own best step (peft's
      layout; ``best_step`` and its dev WER/CER in ``adapter_config.json``), for
      ``speechml asr merge --adapters exp_dir/adapters``;
    - ``exp_dir/best_steps.json``: ``{lang: {"step", "dev_wer", "dev_cer", "adapter"}}``;
    - ``exp_dir/dev_wer_per_language.png``: each language's dev WER curve, its best marked;
    - ``exp_dir/model``: the base with every adapter taken from its language's best step.

    Args:
        config: as for :func:`train_adapter`; ``train.best_mode`` must be ``min``.
        base_dir: the frozen base model directory.
        langs: the languages (ISO 639-3), one adapter each; one language works too.
        train_dir, dev_dir: data dirs of those languages, mixed.
        exp_dir: the experiment directory.
        init_adapters: language -> adapter directory to start from (e.g. the teacher's).

    Example:
        >>> from speechml.config import load_config
        >>> config = load_config(AdapterTrainConfig, "conf/adapter.yaml")
        >>> merged = train_adapters(config, "exp/base/model", ["eng", "kat"], "data/train",
        ...                         "data/dev", "exp/lda")
        >>> sorted(path.name for path in Path("exp/lda/adapters").iterdir())
        ['eng', 'kat']
    """
    langs = list(langs)
    if not langs or len(set(langs)) != len(langs):
        raise ConfigError(f"adapter languages {','.join(langs)}: give each language once")
    if config.train.best_mode != "min":
        raise ConfigError("train.best_mode must be min: each language keeps its lowest dev WER")
    for path in (train_dir, dev_dir):
        _check_languages(DataDir.read(path), langs)
    exp_dir = Path(exp_dir)
    metrics = [f"dev_wer_{lang}" for lang in langs]
    config = replace(config, train=replace(config.train, keep_best_of=metrics))
    recognizer = _adapter_recognizer(config, base_dir, langs, init_adapters or {})
    result = fit_recognizer(recognizer, config, train_dir, dev_dir, exp_dir, per_language=langs)
    model, record, dirs = recognizer.model, {}, {}
    for lang, best in language_bests(result, langs).items():
        load_model_weights(model, best.path)
        found = {k: best.metrics.get(f"{k}_{lang}") for k in ("dev_wer", "dev_cer")}
        dirs[lang] = save_adapter(
            model, lang, exp_dir / "adapters" / lang, {"best_step": best.step, **found}
        )
        record[lang] = {"step": best.step, **found, "adapter": f"adapters/{lang}"}
        logger.info("adapter %s: best step %d (dev WER %s)", lang, best.step, found["dev_wer"])
    merge_adapters(model, dirs)
    atomic_write_text(exp_dir / BEST_STEPS, json.dumps(record, indent=1) + "\n")
    curves = read_metrics(exp_dir / "log" / "metrics.jsonl")
    save_curves(
        {lang: curves.get(f"dev_wer_{lang}", []) for lang in langs},
        {lang: entry["step"] for lang, entry in record.items()},
        exp_dir / "dev_wer_per_language.png",
        f"{exp_dir.name}: dev WER by language (o: best step)",
        "dev WER %",
    )
    recognizer.save(exp_dir / "model")
    return recognizer
