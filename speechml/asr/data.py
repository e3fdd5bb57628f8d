"""ASR training data: a data dir turned into normalised fbank features and token ids.

Features are read from the data dir's feature store (``speechml data compute-fbank``) where it is
up to date, else computed from the audio; either way once per utterance, then kept in memory
(a few hundred MB for tens of thousands of short utterances), so later epochs cost nothing.

Example:
    >>> from speechml.data.tokenizer import load_tokenizer
    >>> train, tokenizer = DataDir.read("data/train"), load_tokenizer("data/lang_char")
    >>> dataset = AsrDataset(train, tokenizer, FbankConfig(), cmvn=None)
    >>> batch = collate_asr([dataset[0], dataset[1]])
    >>> batch["feats"].shape  # (B, T, 80): two utterances of 0.5 s
    torch.Size([2, 48, 80])
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from speechml.data.datadir import DataDir
from speechml.data.durations import utterance_durations
from speechml.data.feature_store import DataDirFbank
from speechml.data.features import FbankConfig, GlobalCMVN
from speechml.data.tokenizer import Tokenizer
from speechml.errors import DataError

logger = logging.getLogger(__name__)


class AsrDataset(Dataset):
    """Utterances of a data dir as ``{"utt", "lang", "feats" (T, F), "tokens" (U,)}``.

    Args:
        data: the data dir; needs ``text`` when ``with_text`` is True.
        tokenizer: maps transcripts to ids (blank 0 never appears in targets).
        fbank: filterbank options.
        cmvn: global normalisation, or None.
        with_text: load transcripts (False for untranscribed audio, e.g. pseudo-labelling).
        allow_pipes: allow ``wav.scp`` pipes.
        utts: a subset of utterance ids (default: all).
    """

    def __init__(
        self,
        data: DataDir,
        tokenizer: Tokenizer | None,
        fbank: FbankConfig,
        cmvn: GlobalCMVN | None = None,
        with_text: bool = True,
        allow_pipes: bool = False,
        utts: list[str] | None = None,
    ) -> None:
        self.data = data
        self.tokenizer = tokenizer
        self.fbank = fbank
        self.cmvn = cmvn
        self.with_text = with_text
        self.utts = list(utts if utts is not None else data.utts)
        where = data.path / "text" if data.path else "text"
        if with_text:
            missing = [u for u in self.utts if not data.text.get(u, "").strip()]
            if missing:
                raise DataError(
                    f"{len(missing)} utterances have no transcript (first: {missing[:5]}); "
                    "run `speechml data fix` or train on a subset",
                    where,
                )
        durations = utterance_durations(data, allow_pipes=allow_pipes)
        self.durations = [float(durations[u]) for u in self.utts]
        self._fbank = DataDirFbank(data, fbank, self.utts, allow_pipes=allow_pipes)
        self._cache: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.utts)

    def features(self, index: int) -> Tensor:
        """Normalised fbank ``(T, F)`` of one utterance (stored or computed, then cached)."""
        if index not in self._cache:
            feats = self._fbank(self.utts[index])
            if self.cmvn is not None:
                feats = self.cmvn(feats)
            self._cache[index] = feats
        return self._cache[index]

    def __getitem__(self, index: int) -> dict[str, Any]:
        utt = self.utts[index]
        item: dict[str, Any] = {
            "utt": utt,
            "lang": self.data.utt2lang.get(utt),
            "feats": self.features(index),
        }
        if self.with_text and self.tokenizer is not None:
            ids = self.tokenizer.encode(self.data.text[self.utts[index]])
            item["tokens"] = torch.tensor(ids, dtype=torch.long)
        return item


def collate_asr(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of dataset items into a batch.

    Returns:
        ``utts`` and ``langs`` (lists; a language is None without ``utt2lang``), ``feats``
        (B, T, F), ``feat_lengths`` (B,), and when items carry
        tokens, ``targets`` (B, U) padded with 0 and ``target_lengths`` (B,).
    """
    batch: dict[str, Any] = {
        "utts": [item["utt"] for item in items],
        "langs": [item["lang"] for item in items],
        "feats": pad_sequence([item["feats"] for item in items], batch_first=True),
        "feat_lengths": torch.tensor([len(item["feats"]) for item in items]),
    }
    if "tokens" in items[0]:
        batch["targets"] = pad_sequence([item["tokens"] for item in items], batch_first=True)
        batch["target_lengths"] = torch.tensor([len(item["tokens"]) for item in items])
    return batch
