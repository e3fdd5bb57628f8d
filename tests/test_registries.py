"""Registries are the one source of component names: configs and CLI choices read them."""

from __future__ import annotations

import dataclasses

import pytest

from speechml.asr.recognizer import METHODS, SEARCHES
from speechml.asr.speech_encoders import ENCODERS
from speechml.asr.transducer import PREDICTORS, TRANSDUCER_LOSSES, PredictorConfig, TransducerConfig
from speechml.cli import build_parser
from speechml.cls.pooling import POOLINGS
from speechml.cls.speech_model import SpeechClassifierConfig
from speechml.config import Registry, from_dict
from speechml.errors import ConfigError
from speechml.llm.projector import PROJECTORS, ProjectorConfig
from speechml.llm.train import AudioLlmConfig
from speechml.text.adapt import TextEncoderConfig
from speechml.text.transmi import TRANSMI_MERGES
from speechml.train.trainer import SCHEDULES, TrainConfig

#: (config class, field, registry): every field whose value names a registered component
NAMED_FIELDS = [
    (TrainConfig, "schedule", SCHEDULES),
    (ProjectorConfig, "kind", PROJECTORS),
    (AudioLlmConfig, "encoder", ENCODERS),
    (PredictorConfig, "kind", PREDICTORS),
    (TransducerConfig, "loss", TRANSDUCER_LOSSES),
    (SpeechClassifierConfig, "pooling", POOLINGS),
    (TextEncoderConfig, "transmi", TRANSMI_MERGES),
]


@pytest.mark.parametrize(("config", "name", "registry"), NAMED_FIELDS)
def test_a_named_field_takes_exactly_the_registered_names(
    config: type, name: str, registry: Registry
) -> None:
    assert len(registry) >= 2
    for registered in registry:
        assert getattr(from_dict(config, {name: registered}), name) == registered
    with pytest.raises(ConfigError, match=rf"conf\.yaml: {name}: unknown .*{sorted(registry)[0]}"):
        from_dict(config, {name: "no-such-kind"}, source="conf.yaml")


def test_every_llm_encoder_has_its_options_section() -> None:
    sections = {field.name for field in dataclasses.fields(AudioLlmConfig)}
    assert set(ENCODERS) <= sections


def choices(group: str, verb: str, option: str) -> list[str]:
    parser = build_parser({group})
    groups = next(a for a in parser._actions if a.dest == "group").choices
    verbs = next(a for a in groups[group]._actions if a.dest == "verb").choices
    return next(a for a in verbs[verb]._actions if option in a.option_strings).choices


def test_cli_search_choices_are_the_registry() -> None:
    assert list(METHODS) == [*sorted(SEARCHES), "streaming"]
    assert list(choices("asr", "decode", "--method")) == list(METHODS)
    assert list(choices("asr", "confidence-report", "--method")) == sorted(SEARCHES)
    assert list(choices("asr", "pseudo-label", "--method")) == sorted(SEARCHES)


def test_cli_transmi_choices_are_the_registry_or_none() -> None:
    assert list(choices("text", "expand-vocab", "--transmi")) == ["none", *sorted(TRANSMI_MERGES)]
    assert from_dict(TextEncoderConfig, {"transmi": None}).transmi is None
