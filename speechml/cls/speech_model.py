"""End-to-end speech classifier: a speech encoder, pooling over time and a linear head.

Encoders are chosen by name from :data:`ENCODERS`:

- ``conformer``: our streaming :class:`~speechml.asr.encoder.ConformerEncoder` on Kaldi fbank
  features with global CMVN, fresh or with the encoder, front end and CMVN of a trained
  recogniser directory; it pools the second (non-causal) pass when the encoder has one and
  ``second_pass`` is set, else the causal output.
- ``hf``: a transformers waveform encoder (wav2vec2, HuBERT, WavLM, ...) loaded by local path
  with ``AutoModel``, on raw audio, normalised by the directory's feature extractor when it has
  one (``preprocessor_config.json``).

Layout of a classifier directory (:meth:`SpeechClassifier.save`, written whole, atomically)::

    config.yaml          SpeechClassifierConfig, as resolved (a recogniser's encoder config)
    labels.json          the label set, in the order of the head's outputs
    model.safetensors    every weight: encoder, pooling, head
    fbank.json cmvn.json the front end (conformer)
    encoder/             the transformers config and feature extractor (hf)

Example:
    >>> classifier = SpeechClassifier.load("exp/e2e/model")  # doctest: +SKIP
    >>> classifier.classify(DataDir.read("data/test"))  # doctest: +SKIP
    {'utt1': 'weather', ...}
    >>> classify_data_dir("exp/e2e/model", "data/test", "exp/e2e/decode_test")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from speechml.asr.adapters import adapter_languages, base_state_dict
from speechml.asr.data import AsrDataset, collate_asr
from speechml.asr.encoder import ConformerEncoder, EncoderConfig
from speechml.asr.recognizer import CMVN_STATS, FBANK_CONFIG, Recognizer
from speechml.cls.labels import write_predictions
from speechml.cls.pooling import make_pooling
from speechml.config import Registry, from_dict, read_json, read_yaml, save_config
from speechml.data.datadir import DataDir
from speechml.data.features import CmvnStats, FbankConfig, GlobalCMVN, compute_cmvn_stats
from speechml.data.waveform import WaveformCollator, WaveformDataset
from speechml.errors import ConfigError, SpeechmlError
from speechml.io import atomic_dir, atomic_write_text
from speechml.train.checkpoint import MODEL_FILE, model_state

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.json"
HF_DIR = "encoder"  # the transformers config and feature extractor of an hf classifier

#: Encoder classes by name. Each has ``options`` (its config section), ``output_dim``,
#: ``collate``, ``create(options, init_from, train_data)``, ``load(options, classifier_dir)``,
#: ``save_files(classifier_dir)``, ``dataset(data, allow_pipes)`` and
#: ``forward(inputs, lengths) -> (frames (B, T, D), frame_lengths (B,))``.
ENCODERS = Registry("speech encoder")


@dataclass
class ConformerOptions:
    """The ``conformer`` encoder (replaced by a recogniser's when initialised from one)."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # from scratch: its size
    fbank: FbankConfig = field(default_factory=FbankConfig)  # front end; bins = input_dim
    second_pass: bool = True  # pool the non-causal second pass when the encoder has one
    cmvn_utts: int = 1000  # from scratch: training utterances the CMVN statistics come from


@dataclass
class HfOptions:
    """The ``hf`` encoder (its architecture comes from the pretrained directory)."""

    freeze_feature_encoder: bool = True  # keep the convolutional waveform front end fixed


@dataclass
class SpeechClassifierConfig:
    """Encoder, pooling and head of a speech classifier."""

    encoder: Literal["conformer", "hf"] = "conformer"  # encoder kind (registry name)
    conformer: ConformerOptions = field(default_factory=ConformerOptions)  # conformer only
    hf: HfOptions = field(default_factory=HfOptions)  # hf only
    pooling: Literal["mean", "attention"] = "mean"  # pooling over time (registry name)
    head_dropout: float = 0.1  # dropout on the pooled vector before the linear head


@dataclass
class LabelledDataset(Dataset):
    """A speech dataset whose items also carry ``"label"``: an id, or -1 for an unknown label."""

    base: Any  # an encoder's dataset (items with "utt"; ``.durations``)
    labels: list[int]  # label id of each item

    @property
    def durations(self) -> list[float]:
        return self.base.durations

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.base[index], "label": self.labels[index]}


@dataclass
class LabelledCollator:
    """An encoder's collate plus ``labels`` ``(B,)`` when the items carry labels."""

    collate: Callable[[list[dict[str, Any]]], dict[str, Any]]

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collate(items)
        if "label" in items[0]:
            batch["labels"] = torch.tensor([item["label"] for item in items])
        return batch


def _require_files(directory: Path, names: Sequence[str], what: str) -> None:
    for name in names:
        if not (directory / name).exists():
            raise SpeechmlError(f"{directory}: not a {what} directory ({name} is missing)")


def collate_features(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad fbank items: ``utts``, ``langs``, ``inputs`` (B, T, F), ``input_lengths`` (B,)."""
    batch = collate_asr(items)
    return {
        "utts": batch["utts"],
        "langs": batch["langs"],
        "inputs": batch["feats"],
        "input_lengths": batch["feat_lengths"],
    }


@ENCODERS.register("conformer")
class ConformerSpeechEncoder(nn.Module):
    """:class:`ConformerEncoder` on fbank features normalised by global CMVN.

    Args:
        options: the encoder, front end and pass to pool.
        cmvn: the CMVN statistics of the features (None: features used as they are).

    Shapes:
        ``forward(feats, lengths)``: feats ``(B, T, F)``, lengths ``(B,)`` -> frames
        ``(B, ceil(T / 4), D)`` and their lengths ``(B,)``.
    """

    def __init__(self, options: ConformerOptions, cmvn: CmvnStats | None) -> None:
        super().__init__()
        if options.encoder.input_dim != options.fbank.num_mel_bins:
            raise ConfigError(
                f"conformer.encoder.input_dim ({options.encoder.input_dim}) must equal "
                f"conformer.fbank.num_mel_bins ({options.fbank.num_mel_bins})"
            )
        self.options = options
        self.cmvn = cmvn
        self.encoder = ConformerEncoder(options.encoder)
        self.output_dim = options.encoder.d_model
        self.use_second_pass = options.second_pass and options.encoder.num_second_pass_layers > 0
        self.collate = collate_features

    @classmethod
    def create(
        cls, options: ConformerOptions, init_from: Path | None, train_data: DataDir
    ) -> ConformerSpeechEncoder:
        """A fresh encoder with CMVN from ``train_data``, or a recogniser directory's encoder."""
        if init_from is None:
            cmvn = compute_cmvn_stats(train_data, options.fbank, max_utts=options.cmvn_utts)
            return cls(options, cmvn)
        recognizer = Recognizer.load(init_from)
        if adapter_languages(recognizer.model):
            logger.warning("%s: its language adapters are not used, only the base", init_from)
        options = dataclasses.replace(
            options, encoder=recognizer.model.config.encoder, fbank=recognizer.fbank
        )
        encoder = cls(options, recognizer.cmvn)
        prefix = "encoder."
        weights = {
            key[len(prefix) :]: value
            for key, value in base_state_dict(recognizer.model).items()
            if key.startswith(prefix)
        }
        encoder.encoder.load_state_dict(weights)
        logger.info("encoder initialised from the recogniser %s", init_from)
        return encoder

    @classmethod
    def load(cls, options: ConformerOptions, directory: Path) -> ConformerSpeechEncoder:
        """The encoder of a classifier directory (its weights are loaded by the classifier)."""
        cmvn_path = directory / CMVN_STATS
        return cls(options, CmvnStats.load(cmvn_path) if cmvn_path.is_file() else None)

    def save_files(self, directory: Path) -> None:
        """Write the front end: ``fbank.json`` and, with CMVN, ``cmvn.json``."""
        fbank = json.dumps(dataclasses.asdict(self.options.fbank), indent=1)
        atomic_write_text(directory / FBANK_CONFIG, fbank + "\n")
        if self.cmvn is not None:
            self.cmvn.save(directory / CMVN_STATS)

    def dataset(self, data: DataDir, allow_pipes: bool = False) -> AsrDataset:
        """Normalised fbank features of ``data`` (items ``utt``, ``lang``, ``feats``)."""
        cmvn = GlobalCMVN(self.cmvn) if self.cmvn is not None else None
        return AsrDataset(
            data, None, self.options.fbank, cmvn, with_text=False, allow_pipes=allow_pipes
        )

    def forward(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        out = self.encoder(feats, lengths)
        frames = out.second_pass if self.use_second_pass else out.causal
        return frames, out.lengths


@ENCODERS.register("hf")
class HfSpeechEncoder(nn.Module):
    """A transformers waveform encoder (``AutoModel``) and its feature extractor.

    Args:
        model: the encoder, e.g. a ``Wav2Vec2Model``; it must take ``input_values``.
        feature_extractor: its feature extractor, or None (raw 16 kHz audio, zero-padded).
        options: :class:`HfOptions`.

    Shapes:
        ``forward(audio, lengths)``: audio ``(B, N)``, lengths ``(B,)`` in samples -> frames
        ``(B, T, D)`` (``last_hidden_state``) and their lengths ``(B,)``.
    """

    def __init__(self, model: nn.Module, feature_extractor: Any, options: HfOptions) -> None:
        super().__init__()
        if not hasattr(model, "_get_feat_extract_output_lengths"):
            raise ConfigError(
                f"{type(model).__name__} is not a waveform encoder of the wav2vec2 family "
                "(wav2vec2, HuBERT, WavLM, data2vec-audio...)"
            )
        self.options = options
        self.model = model
        self.feature_extractor = feature_extractor
        config = model.config
        added = getattr(config, "add_adapter", False)
        self.output_dim = config.output_hidden_size if added else config.hidden_size
        # Models trained without attention masks (wav2vec2-base) expect zero padding instead.
        self.attention_mask = getattr(feature_extractor, "return_attention_mask", True)
        self.sample_rate = getattr(feature_extractor, "sampling_rate", 16000)
        self.collate = WaveformCollator(feature_extractor)
        if options.freeze_feature_encoder:
            model.freeze_feature_encoder()

    @staticmethod
    def _feature_extractor(directory: Path) -> Any:
        if (directory / "preprocessor_config.json").is_file():
            return AutoFeatureExtractor.from_pretrained(directory)
        return None

    @classmethod
    def create(
        cls, options: HfOptions, init_from: Path | None, train_data: DataDir
    ) -> HfSpeechEncoder:
        """The pretrained encoder of the transformers directory ``init_from``."""
        if init_from is None:
            raise ConfigError("the hf encoder needs a pretrained transformers model directory")
        if not (init_from / "config.json").is_file():
            raise SpeechmlError(f"{init_from}: not a transformers model directory (no config.json)")
        model = AutoModel.from_pretrained(init_from, dtype=torch.float32)  # trained in float32
        logger.info("encoder %s from %s", type(model).__name__, init_from)
        return cls(model, cls._feature_extractor(init_from), options)

    @classmethod
    def load(cls, options: HfOptions, directory: Path) -> HfSpeechEncoder:
        """The encoder of a classifier directory, untrained (the classifier loads the weights)."""
        hf_dir = directory / HF_DIR
        model = AutoModel.from_config(AutoConfig.from_pretrained(hf_dir))
        return cls(model, cls._feature_extractor(hf_dir), options)

    def save_files(self, directory: Path) -> None:
        """Write the transformers config (and feature extractor) into ``directory/encoder``."""
        self.model.config.save_pretrained(directory / HF_DIR)
        if self.feature_extractor is not None:
            self.feature_extractor.save_pretrained(directory / HF_DIR)

    def dataset(self, data: DataDir, allow_pipes: bool = False) -> WaveformDataset:
        """Raw audio of ``data`` at the feature extractor's rate (16 kHz without one)."""
        return WaveformDataset(data, self.sample_rate, allow_pipes)

    def forward(self, audio: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        mask = None
        if self.attention_mask:
            mask = (torch.arange(audio.shape[1], device=audio.device) < lengths[:, None]).long()
        frames = self.model(audio, attention_mask=mask).last_hidden_state
        frame_lengths = self.model._get_feat_extract_output_lengths(lengths)
        return frames, frame_lengths.clamp(max=frames.shape[1])


class SpeechClassifier(nn.Module):
    """Speech encoder -> pooling over time -> dropout -> linear head over the label set.

    Args:
        config: the classifier config (its encoder options as resolved).
        encoder: an encoder of :data:`ENCODERS` (with ``output_dim``, ``dataset``, ``collate``).
        labels: the label set; output ``i`` of the head is ``labels[i]``.

    Shapes:
        ``forward(inputs, lengths)``: the encoder's inputs (fbank ``(B, T, F)`` or audio
        ``(B, N)``) and lengths ``(B,)`` -> logits ``(B, len(labels))``.
    """

    def __init__(
        self, config: SpeechClassifierConfig, encoder: nn.Module, labels: Sequence[str]
    ) -> None:
        super().__init__()
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"a classifier needs two or more distinct labels, got {labels}")
        self.config = dataclasses.replace(config, **{config.encoder: encoder.options})
        self.labels = list(labels)
        self.encoder = encoder
        self.pooling = make_pooling(config.pooling, encoder.output_dim)
        self.head = nn.Sequential(
            nn.Dropout(config.head_dropout), nn.Linear(encoder.output_dim, len(labels))
        )

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        frames, frame_lengths = self.encoder(inputs, lengths)
        return self.head(self.pooling(frames, frame_lengths))

    def dataset(
        self, data: DataDir, labels: Sequence[int] | None = None, allow_pipes: bool = False
    ) -> Dataset:
        """The encoder's dataset over ``data``; with ``labels`` (an id per utterance, in Kaldi
        order), a :class:`LabelledDataset`."""
        base = self.encoder.dataset(data, allow_pipes=allow_pipes)
        return base if labels is None else LabelledDataset(base, list(labels))

    @property
    def collate(self) -> LabelledCollator:
        """Batch builder of :meth:`dataset` items (``labels`` (B,) when they carry labels)."""
        return LabelledCollator(self.encoder.collate)

    def loader(self, dataset: Dataset, batch_size: int = 16) -> DataLoader:
        """Batches of ``dataset`` in order (evaluation)."""
        return DataLoader(dataset, batch_size=batch_size, collate_fn=self.collate)

    @torch.no_grad()
    def classify(
        self, data: DataDir, batch_size: int = 16, allow_pipes: bool = False
    ) -> dict[str, str]:
        """The predicted label of every utterance of ``data`` (utt -> label, Kaldi order)."""
        self.eval()
        device = next(self.parameters()).device
        predicted: dict[str, str] = {}
        for batch in tqdm(
            self.loader(self.dataset(data, allow_pipes=allow_pipes), batch_size),
            desc="classify",
            unit="batch",
        ):
            logits = self(batch["inputs"].to(device), batch["input_lengths"].to(device))
            ids = logits.argmax(dim=-1).tolist()
            predicted.update(zip(batch["utts"], (self.labels[i] for i in ids), strict=True))
        return predicted

    def save(self, directory: str | Path) -> Path:
        """Write the classifier directory (module docstring), replacing it whole, atomically."""
        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            save_config(self.config, tmp / CONFIG_FILE)
            labels = json.dumps({"labels": self.labels}, ensure_ascii=False, indent=1)
            atomic_write_text(tmp / LABELS_FILE, labels + "\n")
            save_file(model_state(self), str(tmp / MODEL_FILE))
            self.encoder.save_files(tmp)
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> SpeechClassifier:
        """Load a directory written by :meth:`save` (weights through safetensors), in eval mode.

        Raises:
            SpeechmlError: if a file is missing or the weights do not fit the config.
        """
        directory = Path(directory)
        _require_files(directory, (CONFIG_FILE, LABELS_FILE, MODEL_FILE), "speech classifier")
        config = from_dict(
            SpeechClassifierConfig,
            read_yaml(directory / CONFIG_FILE),
            str(directory / CONFIG_FILE),
        )
        labels = read_json(directory / LABELS_FILE).get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise SpeechmlError(f"{directory / LABELS_FILE}: 'labels' must be a list of strings")
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise SpeechmlError(f"{directory / LABELS_FILE}: expected 2 or more distinct labels")
        kind = ENCODERS.get_component(config.encoder)
        encoder = kind.load(getattr(config, config.encoder), directory)
        model = cls(config, encoder, labels)
        try:
            model.load_state_dict(load_file(str(directory / MODEL_FILE)))
        except RuntimeError as err:
            raise SpeechmlError(
                f"{directory / MODEL_FILE}: does not match {directory / CONFIG_FILE}: {err}"
            ) from None
        return model.to(device).eval()


def classify_data_dir(
    model_dir: str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    batch_size: int = 16,
    allow_pipes: bool = False,
) -> dict[str, str]:
    """Classify every utterance of ``data_dir`` and write ``out_dir/utt2label`` (sorted, atomic).

    The classifier directory ``model_dir`` is loaded on a GPU if there is one; the labels are
    written by :func:`speechml.cls.labels.write_predictions`.

    Labels the model never saw in training may be in the data dir's ``utt2label``: the model
    predicts from its own label set, and ``speechml score cls`` counts them wrong.

    Returns:
        utt -> predicted label.

    Example:
        >>> classify_data_dir("exp/e2e/model", "data/test", "exp/e2e/decode_test")  # doctest: +SKIP
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    classifier = SpeechClassifier.load(model_dir, device)
    data = DataDir.read(data_dir)
    return write_predictions(data, classifier.classify(data, batch_size, allow_pipes), out_dir)
