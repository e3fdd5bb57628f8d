"""Strict configs: typed loading, unknown keys, overrides, round trip."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import pytest

from speechml.config import (
    Registry,
    from_dict,
    load_config,
    parse_override,
    parse_yaml,
    save_config,
    to_dict,
)
from speechml.errors import ConfigError


@dataclass
class Encoder:
    num_layers: int = 4  # Conformer blocks
    dropout: float = 0.1  # dropout probability
    kind: Literal["conformer", "lstm"] = "conformer"  # registry name


@dataclass
class Experiment:
    name: str = "base"  # experiment name
    langs: list[str] = field(default_factory=lambda: ["eng"])  # ISO 639-3 codes
    encoder: Encoder = field(default_factory=Encoder)  # the encoder
    out: Path | None = None  # output dir
    shape: tuple[int, int] = (1, 2)  # a pair


JOINERS = Registry("joiner")
JOINERS.register("tanh")(str)
JOINERS.register("relu")(str)


@dataclass
class Joiner:
    kind: Annotated[str, JOINERS] = "tanh"  # registry name
    width: Annotated[int, "a note that is no registry"] = 4  # joiner width


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_nested_values_and_keeps_defaults(tmp_path):
    path = write(tmp_path, "name: x\nencoder:\n  num_layers: 6\nshape: [3, 4]\n")
    config = load_config(Experiment, path)
    assert config.name == "x"
    assert config.encoder.num_layers == 6
    assert config.encoder.dropout == 0.1
    assert config.shape == (3, 4)


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "encoder:\n  num_layer: 6\n")
    with pytest.raises(ConfigError) as err:
        load_config(Experiment, path)
    assert "num_layer" in str(err.value)
    assert str(path) in str(err.value)
    assert "num_layers" in str(err.value)  # the known keys are listed


@dataclass
class Tuning:
    NOT_USED: ClassVar[dict[str, str]] = {"encoder": "the tuned model's is kept"}
    name: str = "tune"  # experiment name


def test_a_section_that_the_verb_does_not_use_is_refused_with_the_reason(tmp_path):
    path = write(tmp_path, "name: x\nencoder:\n  num_layers: 6\n")
    with pytest.raises(ConfigError) as err:
        load_config(Tuning, path)
    assert (
        str(err.value)
        == f"{path}: encoder: not used by Tuning (the tuned model's is kept); drop it"
    )
    with pytest.raises(ConfigError, match="encoder: not used by Tuning"):
        load_config(Tuning, None, ["encoder.num_layers=2"])
    assert load_config(Tuning, None, ["name=y"]).name == "y"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("encoder:\n  num_layers: six\n", "encoder.num_layers"),
        ("encoder:\n  num_layers: true\n", "expected an integer"),
        ("encoder:\n  kind: rnn\n", "not one of"),
        ("langs: eng\n", "expected a list"),
        ("shape: [1, 2, 3]\n", "expected 2 items"),
        ("- a\n- b\n", "mapping"),
        ("name: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        load_config(Experiment, write(tmp_path, text))


def test_missing_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Experiment, tmp_path / "nope.yaml")


def test_overrides_apply_on_top_of_file_and_defaults(tmp_path):
    path = write(tmp_path, "name: x\n")
    config = load_config(
        Experiment, path, ["encoder.dropout=0.3", "langs=[kat, eng]", "out=/tmp/o"]
    )
    assert config.encoder.dropout == 0.3
    assert config.langs == ["kat", "eng"]
    assert config.out == Path("/tmp/o")
    assert config.name == "x"


def test_override_of_unknown_key_is_error():
    with pytest.raises(ConfigError, match="encoder.depth|depth"):
        load_config(Experiment, None, ["encoder.depth=3"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("encoder.num_layers")


def test_int_is_accepted_for_float_and_bool_is_not_an_int():
    assert from_dict(Encoder, {"dropout": 0}).dropout == 0.0
    with pytest.raises(ConfigError):
        from_dict(Encoder, {"num_layers": False})


def test_save_and_reload_round_trip(tmp_path):
    config = Experiment(name="ü", langs=["kat"], encoder=Encoder(num_layers=2), out=Path("o"))
    save_config(config, tmp_path / "resolved.yaml")
    assert load_config(Experiment, tmp_path / "resolved.yaml") == config
    assert to_dict(config)["out"] == "o"


def test_registry_names_choices_on_unknown_component():
    registry = Registry("predictor")

    @registry.register("stateless")
    def make() -> str:
        return "made"

    assert registry.get_component("stateless")() == "made"
    with pytest.raises(ConfigError, match="stateless"):
        registry.get_component("lstm")
    with pytest.raises(ValueError):
        registry.register("stateless")(make)


@pytest.mark.parametrize(
    "text, key, line, first",
    [
        ("name: a\nencoder:\n  num_layers: 2\nname: b\n", "name", 4, 1),
        ("encoder:\n  num_layers: 2\n  dropout: 0.1\n  num_layers: 6\n", "num_layers", 4, 2),
    ],
)
def test_duplicated_key_names_file_key_and_lines(tmp_path, text, key, line, first):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(Experiment, path)
    assert str(err.value) == f"{path}:{line}: duplicated key {key!r} (first on line {first})"


def test_merge_keys_may_be_overridden_once(tmp_path):
    text = "base: &b {num_layers: 2, dropout: 0.3}\nencoder:\n  <<: *b\n  num_layers: 6\n"
    data = parse_yaml(text, "conf.yaml")
    assert data["encoder"] == {"num_layers": 6, "dropout": 0.3}


def test_duplicated_key_in_an_override_value_is_refused():
    with pytest.raises(ConfigError, match="duplicated key 'a'"):
        parse_override("x={a: 1, a: 2}")


def test_yaml_tags_that_build_objects_are_refused():
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_yaml("a: !!python/object/apply:os.system ['true']\n", "conf.yaml")


def test_a_registry_typed_field_takes_the_registered_names_only():
    assert from_dict(Joiner, {"kind": "relu", "width": 3}) == Joiner("relu", 3)
    with pytest.raises(ConfigError, match=r"joiner: kind: unknown joiner 'sigmoid'.*relu, tanh"):
        from_dict(Joiner, {"kind": "sigmoid"}, source="joiner")
    with pytest.raises(ConfigError, match="expected a string"):
        from_dict(Joiner, {"kind": 3})
    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(Joiner, {"width": "wide"})
