"""End-to-end speech classifier: a speech encoder, pooling over time and a linear head.

Encoders are chosen by name from :data:`speechml.asr.speech_encoders.ENCODERS`: ``conformer``
(our streaming Conformer on fbank, fresh or a recogniser's; it pools the second pass when there
is one) or ``hf`` (a transformers waveform encoder by local path, on raw audio).

Layout of a classifier directory (:meth:`SpeechClassifier.save`, written whole, atomically)::

    config.yaml          SpeechClassifierConfig, as resolved (a recogniser's encoder config)
    labels.json          the label set, in the order of the head's outputs
    model.safetensors    every weight: encoder, pooling, head
    fbank.json cmvn.json the front end (conformer)
    encoder/             the transformers config and feature extractor (hf)

Example:
    >>> from speechml.cls.train_e2e import E2eConfig, train_e2e
    >>> from speechml.config import load_config
    >>> train_e2e(load_config(E2eConfig, "conf/e2e.yaml"), "data/train", "data/dev", "exp/e2e",
    ...           init_from="exp/base/model")  # two steps on the tiny recogniser's encoder
    PosixPath('exp/e2e/model')
    >>> classifier = SpeechClassifier.load("exp/e2e/model")
    >>> predicted = classifier.classify(DataDir.read("data/test"))
    >>> len(predicted), set(predicted.values()) <= {"even", "odd"}
    (4, True)
    >>> len(classify_data_dir("exp/e2e/model", "data/test", "exp/e2e/decode_test"))
    4
    >>> Path("exp/e2e/decode_test/utt2label").is_file()
    True
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from speechml.asr.speech_encoders import ENCODERS, ConformerOptions, HfOptions
from speechml.cls.kinds import MODEL_MARKERS
from speechml.cls.labels import write_predictions
from speechml.cls.pooling import POOLINGS, make_pooling
from speechml.config import from_dict, read_json, read_yaml, save_config
from speechml.data.datadir import DataDir
from speechml.errors import SpeechmlError
from speechml.io import atomic_dir, atomic_write_text
from speechml.model_files import load_safetensors, load_state_into, save_safetensors
from speechml.progress import progress_bar
from speechml.train.checkpoint import MODEL_FILE

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
LABELS_FILE = MODEL_MARKERS["speech"]


@dataclass
class SpeechClassifierConfig:
    """Encoder, pooling and head of a speech classifier."""

    encoder: Literal["conformer", "hf"] = "conformer"  # encoder kind (registry name)
    conformer: ConformerOptions = field(default_factory=ConformerOptions)  # conformer only
    hf: HfOptions = field(default_factory=HfOptions)  # hf only
    pooling: Annotated[str, POOLINGS] = "mean"  # pooling over time (POOLINGS name)
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
        for batch in progress_bar(
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
            save_safetensors(self, tmp / MODEL_FILE)
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
        weights_path = directory / MODEL_FILE
        load_state_into(model, load_safetensors(weights_path), weights_path)
        return model.to(device).eval()


def classify_data_dir(
    model_dir: str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    batch_size: int = 16,
    allow_pipes: bool = False,
    system: str | None = None,
) -> dict[str, str]:
    """Classify every utterance of ``data_dir`` and write ``out_dir/utt2label`` (sorted, atomic)
    and, given ``system`` (one line describing the classifier), ``out_dir/system.txt``.

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
    predicted = classifier.classify(data, batch_size, allow_pipes)
    return write_predictions(data, predicted, out_dir, system)
