"""Speech encoders chosen by name, shared by the capabilities that listen: classification
(:mod:`speechml.cls.speech_model`) and the audio LLM (:mod:`speechml.llm`).

- ``conformer``: our streaming :class:`~speechml.asr.encoder.ConformerEncoder` on Kaldi fbank
  features with global CMVN, fresh or with the encoder, front end and CMVN of a trained
  recogniser directory; it gives the second (non-causal) pass when the encoder has one and
  ``second_pass`` is set, else the causal output.
- ``hf``: a transformers waveform encoder (wav2vec2, HuBERT, WavLM, ...) loaded by local path
  with ``AutoModel``, on raw audio, normalised by the directory's feature extractor when it has
  one (``preprocessor_config.json``).
- ``whisper``: the encoder of a transformers Whisper checkpoint by local path, on its log-mel
  features (padded to its 30 s window).

Example:
    >>> train, model = DataDir.read("data/train"), Path("exp/base/model")
    >>> enc = ConformerSpeechEncoder.create(ConformerOptions(), model, train)
    >>> feats, feat_lengths = torch.randn(2, 100, 80), torch.tensor([100, 60])
    >>> frames, lengths = enc(feats, feat_lengths)  # 40 ms frames of the recogniser's encoder
    >>> frames.shape[-1] == enc.output_dim, lengths.tolist()
    (True, [...])
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from speechml.asr.adapters import adapter_languages, base_state_dict
from speechml.asr.data import AsrDataset, collate_asr
from speechml.asr.encoder import ConformerEncoder, EncoderConfig
from speechml.asr.recognizer import CMVN_STATS, FBANK_CONFIG, Recognizer
from speechml.config import Registry
from speechml.data.datadir import DataDir
from speechml.data.feature_store import compute_cmvn_stats
from speechml.data.features import CmvnStats, FbankConfig, GlobalCMVN
from speechml.data.waveform import WaveformCollator, WaveformDataset
from speechml.errors import ConfigError
from speechml.io import atomic_write_text, require_model_dir
from speechml.model_files import from_pretrained

logger = logging.getLogger(__name__)

HF_DIR = "encoder"  # the transformers config and feature extractor of an hf model dir

#: Encoder classes by name. Each has ``options`` (its config section), ``output_dim``,
#: ``collate``, ``create(options, init_from, train_data)``, ``dataset(data, allow_pipes)`` and
#: ``forward(inputs, lengths) -> (frames (B, T, D), frame_lengths (B,))``; those a speech
#: classifier directory can hold (conformer, hf) also ``load(options, classifier_dir)`` and
#: ``save_files(classifier_dir)``.
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
            return from_pretrained(AutoFeatureExtractor.from_pretrained, directory)
        return None

    @classmethod
    def create(
        cls, options: HfOptions, init_from: Path | None, train_data: DataDir
    ) -> HfSpeechEncoder:
        """The pretrained encoder of the transformers directory ``init_from``."""
        if init_from is None:
            raise ConfigError("the hf encoder needs a pretrained transformers model directory")
        init_from = require_model_dir(init_from)
        model = from_pretrained(AutoModel.from_pretrained, init_from, dtype=torch.float32)
        logger.info("encoder %s from %s", type(model).__name__, init_from)
        return cls(model, cls._feature_extractor(init_from), options)

    @classmethod
    def load(cls, options: HfOptions, directory: Path) -> HfSpeechEncoder:
        """The encoder of a classifier directory, untrained (the classifier loads the weights)."""
        hf_dir = directory / HF_DIR
        model = AutoModel.from_config(from_pretrained(AutoConfig.from_pretrained, hf_dir))
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


@dataclass
class WhisperOptions:
    """The ``whisper`` encoder: its architecture and front end come from the pretrained
    directory (``config.json``, ``preprocessor_config.json``); nothing to set here."""


@dataclass
class WhisperCollator:
    """Log-mel features of a batch, padded (and cut) to the feature extractor's window."""

    feature_extractor: Any  # a WhisperFeatureExtractor

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        waves = [item["audio"].numpy() for item in items]
        features = self.feature_extractor(
            waves, sampling_rate=self.feature_extractor.sampling_rate, return_tensors="pt"
        )["input_features"]
        return {
            "utts": [item["utt"] for item in items],
            "langs": [item["lang"] for item in items],
            "inputs": features,
            "input_lengths": torch.tensor([len(wave) for wave in waves]),
        }


@ENCODERS.register("whisper")
class WhisperSpeechEncoder(nn.Module):
    """The encoder of a transformers Whisper checkpoint, on its log-mel features.

    Every utterance is padded to the feature extractor's window (30 s for OpenAI's models, as
    Whisper's encoder requires); audio longer than the window is cut. An utterance of ``n``
    samples has ``ceil(n / (2 * hop_length))`` valid frames (20 ms each at 16 kHz).

    Shapes:
        ``forward(features, lengths)``: features ``(B, mels, frames)``, lengths ``(B,)`` in
        samples -> frames ``(B, T, D)`` and their lengths ``(B,)``.
    """

    def __init__(self, model: nn.Module, feature_extractor: Any, options: WhisperOptions) -> None:
        super().__init__()
        self.options = options
        self.model = model.get_encoder() if hasattr(model, "get_encoder") else model
        self.config = model.config
        self.feature_extractor = feature_extractor
        self.output_dim = model.config.d_model
        self.sample_rate = feature_extractor.sampling_rate
        self.samples_per_frame = 2 * feature_extractor.hop_length
        self.collate = WhisperCollator(feature_extractor)

    @classmethod
    def create(
        cls, options: WhisperOptions, init_from: Path | None, train_data: DataDir
    ) -> WhisperSpeechEncoder:
        """The encoder of the Whisper directory ``init_from`` (its feature extractor too)."""
        if init_from is None:
            raise ConfigError("the whisper encoder needs a pretrained Whisper model directory")
        if not (require_model_dir(init_from) / "preprocessor_config.json").is_file():
            raise ConfigError(
                f"{init_from}: no preprocessor_config.json (Whisper's feature extractor)"
            )
        model = from_pretrained(AutoModel.from_pretrained, init_from, dtype=torch.float32)
        if not hasattr(model, "get_encoder") or model.config.model_type != "whisper":
            raise ConfigError(f"{init_from}: {type(model).__name__} is not a Whisper model")
        logger.info("encoder of %s from %s", type(model).__name__, init_from)
        extractor = from_pretrained(AutoFeatureExtractor.from_pretrained, init_from)
        return cls(model, extractor, options)

    def dataset(self, data: DataDir, allow_pipes: bool = False) -> WaveformDataset:
        """Raw audio of ``data`` at the feature extractor's rate."""
        return WaveformDataset(data, self.sample_rate, allow_pipes)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        frames = self.model(features).last_hidden_state
        valid = torch.div(
            lengths + self.samples_per_frame - 1, self.samples_per_frame, rounding_mode="floor"
        )
        return frames, valid.clamp(max=frames.shape[1])
