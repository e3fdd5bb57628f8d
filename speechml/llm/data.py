"""Batches for the audio LLM: an instruction example's audio features and its token ids.

:class:`InstructionDataset` reads each example's audio through the speech encoder's own dataset
(fbank for the Conformer, raw audio for a transformers encoder) from the data dir named in the
example, and encodes the chat turn (:func:`speechml.llm.prompt.encode_turn`); its
``durations`` (seconds of audio) drive the trainer's bucketed batches. :class:`InstructionCollator`
pads both.

Example:
    >>> from speechml.config import load_config
    >>> from speechml.llm.mixture import read_examples
    >>> from speechml.llm.train import AudioLlmConfig, build_audio_llm
    >>> model = build_audio_llm(load_config(AudioLlmConfig, "conf/llm.yaml"), "exp/llm_lm/model",
    ...                         "exp/base/model", DataDir.read("data/train"))
    >>> encoder, tokenizer = model.encoder, model.tokenizer
    >>> examples = read_examples("data/llm_train")
    >>> dataset = InstructionDataset(examples, encoder, tokenizer)
    >>> collate = InstructionCollator(encoder.collate, tokenizer.pad_token_id)
    >>> batch = collate([dataset[0]])
    >>> sorted(batch)
    ['attention_mask', 'input_ids', 'input_lengths', 'inputs', 'labels']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from speechml.data.datadir import DataDir
from speechml.errors import DataError
from speechml.llm.mixture import Example
from speechml.llm.prompt import IGNORE, EncodedTurn, encode_prompt, encode_turn


def pad_rows(rows: Sequence[Sequence[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows right-padded with ``value`` ``(B, L)``, and their token mask."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), value)
    mask = torch.zeros_like(ids)
    for b, row in enumerate(rows):
        ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
    return ids, mask


class InstructionDataset(Dataset):
    """The examples' audio items (from the encoder's dataset) and chat turns.

    Args:
        examples: the instruction examples.
        encoder: a speech encoder with ``dataset(data_dir)`` (items with ``utt``).
        tokenizer: the LLM's tokenizer.
        system: the system prompt ("" for none).
        with_answers: encode the answers as labels (training); False encodes the prompt only.

    Raises:
        DataError: naming the utterance, if an example's utterance is not in its data dir, or
            a spoken instruction's audio does not say it (its transcript does not begin with
            the instruction: the mixture was not rendered).
    """

    def __init__(
        self,
        examples: Sequence[Example],
        encoder: Any,
        tokenizer: PreTrainedTokenizerBase,
        system: str = "",
        with_answers: bool = True,
    ) -> None:
        self.examples = list(examples)
        self.sources: dict[str, tuple[Any, dict[str, int]]] = {}
        transcripts: dict[str, dict[str, str]] = {}
        for example in self.examples:
            if example.data_dir not in self.sources:
                data = DataDir.read(example.data_dir)
                audio = encoder.dataset(data)
                self.sources[example.data_dir] = (audio, {u: i for i, u in enumerate(audio.utts)})
                transcripts[example.data_dir] = data.text
            if example.utt not in self.sources[example.data_dir][1]:
                raise DataError(f"not in {example.data_dir}", utt=example.utt)
            said = transcripts[example.data_dir].get(example.utt, "")
            if example.task == "spoken" and not said.startswith(example.spoken_instruction):
                raise DataError(
                    "the audio of a spoken instruction must say it first: render the mixture "
                    "(speechml.llm.spoken.render_spoken; `speechml llm mixture` does)",
                    utt=example.utt,
                )
        self.turns: list[EncodedTurn] = []
        for example in self.examples:
            if with_answers:
                turn = encode_turn(
                    tokenizer, example.instruction, example.answer, system, example.utt
                )
            else:
                ids = encode_prompt(tokenizer, example.instruction, system)
                turn = EncodedTurn(ids, [IGNORE] * len(ids))
            self.turns.append(turn)

    @property
    def durations(self) -> list[float]:
        """Seconds of audio of each example."""
        out = []
        for example in self.examples:
            audio, index = self.sources[example.data_dir]
            out.append(audio.durations[index[example.utt]])
        return out

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        example = self.examples[i]
        audio, index = self.sources[example.data_dir]
        turn = self.turns[i]
        return {**audio[index[example.utt]], "input_ids": turn.input_ids, "labels": turn.labels}


class InstructionCollator:
    """The encoder's audio batch (``inputs``, ``input_lengths``) plus right-padded token ids,
    ``attention_mask`` and ``labels`` (-100 on the padding)."""

    def __init__(
        self, audio_collate: Callable[[list[dict[str, Any]]], dict[str, Any]], pad_id: int
    ) -> None:
        self.audio_collate = audio_collate
        self.pad_id = pad_id

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        audio = self.audio_collate(items)
        ids, mask = pad_rows([item["input_ids"] for item in items], self.pad_id)
        labels, _ = pad_rows([item["labels"] for item in items], IGNORE)
        return {
            "inputs": audio["inputs"],
            "input_lengths": audio["input_lengths"],
            "input_ids": ids,
            "attention_mask": mask,
            "labels": labels,
        }
