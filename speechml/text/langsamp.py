"""LangSAMP: language and script embeddings that reach the language-modelling head only.

LangSAMP (Liu et al. 2024) adds a language embedding and a script embedding to the
transformer's final hidden states before the masked-LM head, during (continued) MLM
pretraining. The head can then leave language- and script-specific information to them, and
the encoder's own outputs (what a downstream classifier reads) stay language-neutral: no ids
are needed at inference, and the saved encoder is a plain transformers model.

A :class:`LangSampForMaskedLM` wraps any masked LM with an ``lm_head`` (RoBERTa, XLM-R,
Glot500 layouts). Its directory (:meth:`LangSampForMaskedLM.save`) is the masked LM's
``save_pretrained`` (loadable alone by ``AutoModelForMaskedLM`` or, for a classifier,
``AutoModelForSequenceClassification``) plus ``langsamp.safetensors`` (the two embedding
tables) and ``lang_script_ids.json`` (:class:`~speechml.text.ids.LanguageScriptIds`).

Example:
    >>> from transformers import AutoModelForMaskedLM
    >>> from speechml.text.encoder import TextModelConfig, train_text_tokenizer, xlmr_config
    >>> texts, langs = ["january march", "январь март"], ["eng", "rus"]
    >>> tokenizer = train_text_tokenizer(texts, vocab_size=60)
    >>> config = xlmr_config(TextModelConfig(hidden_size=32), len(tokenizer), max_length=16)
    >>> mlm = AutoModelForMaskedLM.from_config(config)
    >>> model = LangSampForMaskedLM(mlm, LanguageScriptIds.from_data(langs, texts))
    >>> batch = tokenizer(texts, padding=True, return_tensors="pt")
    >>> lang_ids, script_ids = map(torch.tensor, model.ids.encode(langs, texts))
    >>> out = model(batch["input_ids"], batch["attention_mask"], labels=batch["input_ids"],
    ...             lang_ids=lang_ids, script_ids=script_ids)
    >>> out.loss.backward()  # the tables learn with the masked LM
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModelForMaskedLM, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput

from speechml.errors import SpeechmlError
from speechml.io import atomic_dir
from speechml.model_files import load_safetensors, save_safetensors
from speechml.plots import save_heatmap
from speechml.text.ids import LanguageScriptIds

EMBEDDINGS_FILE = "langsamp.safetensors"


class LangSampForMaskedLM(nn.Module):
    """A masked LM whose head also sees a language and a script embedding.

    Args:
        mlm: a transformers masked LM with ``base_model`` and ``lm_head``.
        ids: the numbering of the languages and scripts (rows of the two tables).
    """

    def __init__(self, mlm: PreTrainedModel, ids: LanguageScriptIds) -> None:
        super().__init__()
        if not isinstance(getattr(mlm, "lm_head", None), nn.Module):
            raise SpeechmlError(
                f"{type(mlm).__name__} has no lm_head: LangSAMP needs a RoBERTa-style masked LM"
            )
        self.mlm = mlm
        self.ids = ids
        hidden = mlm.config.hidden_size
        self.language_embeddings = nn.Embedding(len(ids.languages), hidden)
        self.script_embeddings = nn.Embedding(len(ids.scripts), hidden)
        std = getattr(mlm.config, "initializer_range", 0.02)
        for table in (self.language_embeddings, self.script_embeddings):
            nn.init.normal_(table.weight, std=std)

    @property
    def config(self):  # noqa: ANN201 - the wrapped model's PretrainedConfig
        """The masked LM's configuration."""
        return self.mlm.config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        lang_ids: torch.Tensor | None = None,
        script_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> MaskedLMOutput:
        """MLM logits (and loss when ``labels`` are given) of ``(B, T)`` token ids.

        Args:
            input_ids, attention_mask: ``(B, T)``.
            labels: ``(B, T)`` targets, -100 where no token is predicted.
            lang_ids, script_ids: ``(B,)`` one id a sequence; None leaves that embedding out.
            output_hidden_states: also return the encoder's hidden states (untouched by the
                language and script embeddings).
        """
        encoded = self.mlm.base_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
        )
        hidden = encoded.last_hidden_state
        if lang_ids is not None:
            hidden = hidden + self.language_embeddings(lang_ids)[:, None, :]
        if script_ids is not None:
            hidden = hidden + self.script_embeddings(script_ids)[:, None, :]
        logits = self.mlm.lm_head(hidden)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.view(-1, logits.shape[-1]).float(), labels.view(-1), ignore_index=-100
            )
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states)

    def language_similarity(self) -> np.ndarray:
        """Cosine similarities of the language embeddings, ``(L, L)`` in language-id order."""
        weights = nn.functional.normalize(self.language_embeddings.weight.detach().float(), dim=1)
        return (weights @ weights.T).cpu().numpy()

    def plot_language_similarity(self, path: str | Path) -> None:
        """Save the cosine similarities of the language embeddings as a PNG heat map.

        Languages that the head tells apart have low off-diagonal similarities.
        """
        save_heatmap(
            self.language_similarity(),
            self.ids.languages,
            self.ids.languages,
            path,
            "cosine similarity",
            "LangSAMP language embeddings",
            limits=(-1.0, 1.0),
        )

    def save(self, directory: str | Path, tokenizer: object | None = None) -> Path:
        """Write the masked LM, the two tables and the id map into ``directory``, atomically."""
        directory = Path(directory)
        tables = {
            "language_embeddings": self.language_embeddings.weight,
            "script_embeddings": self.script_embeddings.weight,
        }
        with atomic_dir(directory) as tmp:
            self.mlm.save_pretrained(tmp)
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp)
            save_safetensors(tables, tmp / EMBEDDINGS_FILE)
            self.ids.save(tmp)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> LangSampForMaskedLM:
        """Load what :meth:`save` wrote (safetensors only, no remote code).

        Raises:
            SpeechmlError: if the directory lacks the tables, the id map or the model, or their
                shapes disagree.
        """
        directory = Path(directory)
        path = directory / EMBEDDINGS_FILE
        if not path.is_file():
            raise SpeechmlError(f"{directory}: not a LangSAMP model ({EMBEDDINGS_FILE} is missing)")
        ids = LanguageScriptIds.load(directory)
        try:
            mlm = AutoModelForMaskedLM.from_pretrained(
                directory, local_files_only=True, trust_remote_code=False
            )
        except (OSError, ValueError) as err:
            raise SpeechmlError(f"{directory}: cannot load the masked LM: {err}") from None
        model = cls(mlm, ids)
        tables = load_safetensors(path)
        try:
            model.language_embeddings.weight.data.copy_(tables["language_embeddings"])
            model.script_embeddings.weight.data.copy_(tables["script_embeddings"])
        except (KeyError, RuntimeError) as err:
            raise SpeechmlError(f"{path}: does not match lang_script_ids.json: {err}") from None
        return model
