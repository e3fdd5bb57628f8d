"""A trained recogniser as one directory: model, front end and tokenizer, loaded by path.

Layout of a model directory::

    model_config.json      TransducerConfig (speechml.config.to_dict)
    model.safetensors      weights (of the base, when the model has adapters)
    adapters/<lang>/       language adapters (adapter_config.json + adapter_model.safetensors)
    fbank.json             FbankConfig
    cmvn.json              global CMVN statistics
    tokenizer/             the tokenizer (tokenizer.json + model file)

:meth:`Recognizer.decode_data_dir` decodes a data dir with greedy, beam or streaming search on
the causal pass or the second pass (optionally with a blank penalty, and for beam search with
the n-gram LMs of an LM dir, each utterance's picked by its ``utt2lang``), and reports the
real-time factor.

Example:
    >>> recognizer = Recognizer.load("exp/base/model")
    >>> test = DataDir.read("data/test")
    >>> result = recognizer.decode_data_dir(test, method="streaming")
    >>> sorted(result.texts) == sorted(test.wav_scp), result.rtf > 0
    (True, True)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from speechml.asr.adapters import (
    BASE_WEIGHTS,
    MODEL_CONFIG,
    adapter_languages,
    load_multilingual,
    save_multilingual,
    set_languages,
)
from speechml.asr.data import AsrDataset, collate_asr
from speechml.asr.ngram_lm import LmDir, tokenizer_fingerprint
from speechml.asr.search import (
    Hypothesis,
    ShallowFusion,
    StreamingGreedyDecoder,
    ctc_greedy_search,
    greedy_search,
    modified_beam_search,
)
from speechml.asr.transducer import Transducer
from speechml.config import Registry, from_dict, read_json
from speechml.data.datadir import DataDir
from speechml.data.features import CmvnStats, FbankConfig, GlobalCMVN
from speechml.data.tokenizer import Tokenizer, load_tokenizer
from speechml.errors import ConfigError, ModelError, SpeechmlError
from speechml.io import atomic_dir, atomic_write_text
from speechml.progress import progress_bar

logger = logging.getLogger(__name__)

FBANK_CONFIG = "fbank.json"
CMVN_STATS = "cmvn.json"
TOKENIZER_DIR = "tokenizer"

#: the batched searches over encoder outputs, by method name
SEARCHES = Registry("search")
SEARCHES.register("greedy")(greedy_search)
SEARCHES.register("beam")(modified_beam_search)
SEARCHES.register("ctc")(ctc_greedy_search)
#: the methods :meth:`Recognizer.decode_data_dir` takes: a batched search, or ``streaming``
#: (chunk by chunk, one utterance at a time, the causal pass)
METHODS = (*sorted(SEARCHES), "streaming")
#: a name of :data:`METHODS`
SearchMethod = str


@dataclass
class DecodeResult:
    """Hypotheses of a data dir and what decoding cost."""

    texts: dict[str, str]  # utt -> hypothesis text
    hypotheses: dict[str, Hypothesis]  # utt -> tokens, log-prob, confidence
    audio_seconds: float  # total duration decoded
    compute_seconds: float  # wall time of feature extraction, encoder and search

    @property
    def rtf(self) -> float:
        """Real-time factor: compute time over audio time (below 1 is faster than real time)."""
        return self.compute_seconds / max(1e-9, self.audio_seconds)


@dataclass
class Recognizer:
    """Transducer + fbank options + CMVN + tokenizer."""

    model: Transducer
    tokenizer: Tokenizer
    fbank: FbankConfig
    cmvn: CmvnStats | None

    def save(self, directory: str | Path) -> Path:
        """Write the model directory (adapters under ``adapters/``) as a whole: it is written
        beside ``directory`` and renamed onto it when complete, so that a save killed half-way
        leaves the previous model directory (or none), never a mixture of the two."""
        directory = Path(directory)
        with atomic_dir(directory) as staging:
            save_multilingual(self.model, staging)
            fbank = json.dumps(dataclasses.asdict(self.fbank), indent=1)
            atomic_write_text(staging / FBANK_CONFIG, fbank + "\n")
            if self.cmvn is not None:
                self.cmvn.save(staging / CMVN_STATS)
            self.tokenizer.save(staging / TOKENIZER_DIR)
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> Recognizer:
        """Load a model directory written by :meth:`save` (weights through safetensors only).

        Raises:
            SpeechmlError: a file is missing, corrupt or of the wrong kind, or the tokenizer
                does not fit the model; the message names the file (no code of it runs).
        """
        directory = Path(directory)
        for name in (MODEL_CONFIG, BASE_WEIGHTS, FBANK_CONFIG):
            if not (directory / name).is_file():
                raise ModelError(f"not a model directory ({name} is missing)", directory)
        model = load_multilingual(directory, device)
        fbank_path = directory / FBANK_CONFIG
        fbank = from_dict(FbankConfig, read_json(fbank_path), str(fbank_path))
        cmvn_path = directory / CMVN_STATS
        cmvn = CmvnStats.load(cmvn_path) if cmvn_path.is_file() else None
        tokenizer = load_tokenizer(directory / TOKENIZER_DIR)
        if tokenizer.vocab_size != model.config.vocab_size:
            raise ModelError(
                f"the tokenizer has {tokenizer.vocab_size} ids, the model "
                f"{model.config.vocab_size} (model_config.json): not the tokenizer it was "
                "trained with",
                directory / TOKENIZER_DIR,
            )
        return cls(model, tokenizer, fbank, cmvn)

    def dataset(self, data: DataDir, with_text: bool = False, **kwargs) -> AsrDataset:
        """An :class:`AsrDataset` over ``data`` with this recogniser's front end."""
        cmvn = GlobalCMVN(self.cmvn) if self.cmvn is not None else None
        return AsrDataset(data, self.tokenizer, self.fbank, cmvn, with_text=with_text, **kwargs)

    @torch.no_grad()
    def decode_data_dir(
        self,
        data: DataDir,
        method: SearchMethod = "greedy",
        second_pass: bool = False,
        beam: int = 4,
        batch_size: int = 16,
        allow_pipes: bool = False,
        blank_penalty: float = 0.0,
        lm: LmDir | None = None,
        lm_weight: float = 0.3,
        lm_eos: bool = True,
        chunk_size: int | None = None,
        max_symbols: int = 3,
    ) -> DecodeResult:
        """Decode every utterance of ``data``.

        Args:
            data: the data dir.
            method: ``greedy`` (batched), ``beam`` (modified beam search, batched),
                ``streaming`` (greedy, features fed chunk by chunk through the cached causal
                encoder) or ``ctc`` (best path of the CTC head, batched: a CTC-trained
                encoder's search).
            second_pass: decode the non-causal second pass (not with ``streaming``).
            beam: beam size of ``beam``.
            batch_size: utterances a batch (all but ``streaming``).
            allow_pipes: allow ``wav.scp`` pipes.
            blank_penalty: subtracted from the blank's log-probability before each choice
                (positive: fewer deletions, more insertions), every method.
            lm: n-gram LMs for shallow fusion (``beam`` only): the shared LM, or the LM of
                each utterance's ``utt2lang`` (utterances of a language without one are
                decoded without, with a warning).
            lm_weight: the LM's weight (0: plain beam search).
            lm_eos: add the LM's end-of-sentence score to the final hypotheses.
            chunk_size: frames a chunk of the causal pass (default: the model's streaming
                chunk); 0: full context, the whole utterance at once (not with
                ``streaming``). A model trained with dynamic chunks serves any of them.
            max_symbols: tokens a frame at most (``greedy``, ``streaming``; sherpa-onnx's
                greedy search emits 1).

        Raises:
            SpeechmlError: a second pass the model lacks or streaming asked for it; an LM with
                another method than ``beam``, or trained with another tokenizer.
        """
        if second_pass and method == "streaming":
            raise SpeechmlError("streaming decoding runs the causal pass only")
        if chunk_size == 0 and method == "streaming":
            raise SpeechmlError("streaming decoding needs a chunk size > 0")
        if second_pass and not self.model.config.encoder.num_second_pass_layers:
            raise SpeechmlError("this model has no second pass (num_second_pass_layers is 0)")
        if lm is not None:
            self._check_lm(lm, method, data)
        self.model.eval()
        dataset = self.dataset(data, allow_pipes=allow_pipes)
        device = next(self.model.parameters()).device
        hypotheses: dict[str, Hypothesis] = {}
        routed = bool(adapter_languages(self.model))
        started = time.perf_counter()
        loader = DataLoader(
            dataset,
            batch_size=1 if method == "streaming" else batch_size,
            collate_fn=collate_asr,
        )
        for batch in progress_bar(loader, desc=f"decode ({method})", unit="batch"):
            feats = batch["feats"].to(device)
            lengths = batch["feat_lengths"].to(device)
            languages = [data.utt2lang.get(u) for u in batch["utts"]]
            if routed:
                set_languages(self.model, languages)
            if method == "streaming":
                hyps = [self._stream(feats, blank_penalty, max_symbols, chunk_size)]
            else:
                out = self.model.encoder(feats, lengths, chunk_size=chunk_size)
                enc = out.second_pass if second_pass else out.causal
                extra: dict = {"max_symbols": max_symbols} if method == "greedy" else {}
                if method == "beam":
                    extra = {"beam": beam, "fusion": _fusion(lm, languages, lm_weight, lm_eos)}
                search = SEARCHES.get_component(method)
                hyps = search(self.model, enc, out.lengths, blank_penalty=blank_penalty, **extra)
            hypotheses.update(zip(batch["utts"], hyps, strict=True))
        compute = time.perf_counter() - started
        texts = {utt: self.tokenizer.decode(h.tokens) for utt, h in hypotheses.items()}
        result = DecodeResult(texts, hypotheses, float(sum(dataset.durations)), compute)
        logger.info(
            "decoded %d utterances (%.1f s of audio) in %.1f s: RTF %.4f",
            len(texts),
            result.audio_seconds,
            compute,
            result.rtf,
        )
        return result

    def _check_lm(self, lm: LmDir, method: SearchMethod, data: DataDir) -> None:
        """Refuse an LM that cannot fuse; warn of the languages of ``data`` it does not cover."""
        if method != "beam":
            raise ConfigError(f"an LM is fused in beam search only, not {method}")
        if lm.fingerprint != tokenizer_fingerprint(self.tokenizer):
            raise ConfigError(f"{lm.path}: LMs of another tokenizer than the model's")
        uncovered = Counter(
            data.utt2lang.get(utt)
            for utt in data.utts
            if lm.for_language(data.utt2lang.get(utt)) is None
        )
        if uncovered:
            names = ", ".join(
                f"{lang or 'no utt2lang'} ({n})" for lang, n in sorted(uncovered.items(), key=str)
            )
            logger.warning(
                "%s has no LM for %s: those utterances are decoded without", lm.path, names
            )

    def _stream(
        self,
        feats: torch.Tensor,
        blank_penalty: float = 0.0,
        max_symbols: int = 3,
        chunk_size: int | None = None,
    ) -> Hypothesis:
        decoder = StreamingGreedyDecoder(self.model, max_symbols, blank_penalty, chunk_size)
        step = 4 * decoder.encoder_state.chunk_size
        for start in range(0, feats.shape[1], step):
            decoder.accept(feats[:, start : start + step])
        return decoder.finish()


def _fusion(
    lm: LmDir | None, languages: list[str | None], weight: float, eos: bool
) -> list[ShallowFusion | None] | None:
    """Each utterance's shallow fusion: its language's LM (or the shared one), or None."""
    if lm is None:
        return None
    picked = [lm.for_language(lang) for lang in languages]
    return [None if one is None else ShallowFusion(one, weight, eos) for one in picked]
