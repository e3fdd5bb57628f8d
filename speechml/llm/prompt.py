"""Chat prompts with a speech placeholder, labels that teach only the answer, and the splice of
the projected audio into the text embeddings.

A training example is one user turn (an instruction that contains :data:`SPEECH_TOKEN` where
the audio goes, or no placeholder for a text-only turn) and one assistant turn (the answer),
rendered with the tokenizer's chat template (ChatML, Qwen2's, when the tokenizer has none).
Only the answer and the template's end-of-turn tokens after it are learned: every token of the
system and user turns, and of the template around them, has the label -100 (the fault of peer
scripts that train on the instruction too).

:func:`splice_speech` replaces each placeholder's embedding by the utterance's projected audio
embeddings (a variable number), with labels -100 there, and pads the batch on the right.

Example:
    >>> from transformers import AutoTokenizer
    >>> tokenizer = AutoTokenizer.from_pretrained("exp/llm_lm/model")  # the tiny LLM's
    >>> example = encode_turn(tokenizer, f"{SPEECH_TOKEN}\\nTranscribe.", "hello")
    >>> tokenizer.decode([t for t in example.labels if t != -100])
    'hello<|im_end|>\\n'
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from speechml.errors import DataError
from speechml.llm.mixture import SPEECH_TOKEN

IGNORE = -100
#: ChatML as Qwen2 writes it, for tokenizers that come without a chat template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class EncodedTurn:
    """Token ids of one example and the labels to learn (-100: not learned)."""

    input_ids: list[int]
    labels: list[int]


def speech_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id of :data:`SPEECH_TOKEN`, added to the tokenizer as a special token if missing.

    The caller resizes the LLM's embeddings when ``len(tokenizer)`` grew.
    """
    if SPEECH_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [SPEECH_TOKEN]})
    return tokenizer.convert_tokens_to_ids(SPEECH_TOKEN)


def _messages(instruction: str, system: str | None) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": instruction}]


def _render(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], prompt: bool
) -> list[int]:
    template = None if tokenizer.chat_template else CHATML_TEMPLATE
    text = tokenizer.apply_chat_template(
        messages, chat_template=template, add_generation_prompt=prompt, tokenize=False
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_prompt(
    tokenizer: PreTrainedTokenizerBase, instruction: str, system: str | None = None
) -> list[int]:
    """Token ids of the prompt up to the assistant's turn, for generation."""
    return _render(tokenizer, _messages(instruction, system), prompt=True)


def encode_turn(
    tokenizer: PreTrainedTokenizerBase,
    instruction: str,
    answer: str,
    system: str | None = None,
    utt: str | None = None,
) -> EncodedTurn:
    """The ids of instruction + answer and labels that teach the answer only.

    Raises:
        DataError: naming ``utt`` if the instruction holds more than one placeholder, the answer
            is empty, or the template renders the prompt differently inside the full turn.
    """
    if instruction.count(SPEECH_TOKEN) > 1:
        raise DataError(f"more than one {SPEECH_TOKEN} in the instruction {instruction!r}", utt=utt)
    if not answer.strip():
        raise DataError("empty answer", utt=utt)
    messages = _messages(instruction, system)
    prompt = _render(tokenizer, messages, prompt=True)
    full = _render(tokenizer, [*messages, {"role": "assistant", "content": answer}], prompt=False)
    if full[: len(prompt)] != prompt:
        raise DataError(
            "the chat template renders the prompt differently in the full turn", utt=utt
        )
    return EncodedTurn(full, [IGNORE] * len(prompt) + full[len(prompt) :])


def splice_speech(
    text_embeds: Tensor,
    input_ids: Tensor,
    text_mask: Tensor,
    labels: Tensor | None,
    speech_embeds: Tensor,
    speech_lengths: Tensor,
    speech_id: int,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Put each utterance's audio embeddings where its placeholder is; pad on the right.

    Args:
        text_embeds: ``(B, L, E)`` embeddings of ``input_ids``.
        input_ids: ``(B, L)`` token ids, right-padded; a row holds at most one ``speech_id``
            (none: a text-only example, its audio unused).
        text_mask: ``(B, L)`` 1 on the tokens, 0 on the padding.
        labels: ``(B, L)`` labels, or None (generation).
        speech_embeds: ``(B, S, E)`` projected audio, ``speech_lengths`` ``(B,)`` valid.
        speech_id: the placeholder's id.

    Returns:
        ``inputs_embeds`` ``(B, L', E)``, ``attention_mask`` ``(B, L')`` and labels ``(B, L')``
        (-100 on the audio and the padding), L' the longest spliced row.
    """
    rows, masks, row_labels = [], [], []
    for b in range(input_ids.shape[0]):
        length = int(text_mask[b].sum())
        ids, embeds = input_ids[b, :length], text_embeds[b, :length]
        lab = labels[b, :length] if labels is not None else None
        where = (ids == speech_id).nonzero()
        if len(where):
            p, n = int(where[0]), int(speech_lengths[b])
            audio = speech_embeds[b, :n].to(embeds.dtype)
            embeds = torch.cat([embeds[:p], audio, embeds[p + 1 :]])
            if lab is not None:
                ignore = lab.new_full((n,), IGNORE)
                lab = torch.cat([lab[:p], ignore, lab[p + 1 :]])
        rows.append(embeds)
        masks.append(torch.ones(len(embeds), dtype=torch.long, device=embeds.device))
        row_labels.append(lab)
    pad = torch.nn.utils.rnn.pad_sequence
    inputs = pad(rows, batch_first=True)
    mask = pad(masks, batch_first=True)
    out_labels = (
        pad(row_labels, batch_first=True, padding_value=IGNORE) if labels is not None else None
    )
    return inputs, mask, out_labels
