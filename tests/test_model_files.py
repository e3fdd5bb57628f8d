"""Bad model files given by path: one-line errors naming the file, and no code of theirs runs.

Each loader a user reaches with a model dir, checkpoint, tokenizer, adapter or transformers
directory is given a corrupt, truncated, missing, foreign or ill-fitting file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from speechml.asr.adapters import AdapterConfig, add_adapters
from speechml.asr.recognizer import Recognizer
from speechml.asr.transducer import PredictorConfig, Transducer, TransducerConfig
from speechml.cli import main
from speechml.data.features import FbankConfig
from speechml.data.tokenizer import CharTokenizer, load_tokenizer
from speechml.errors import ConfigError, ModelError
from speechml.model_files import (
    from_pretrained,
    load_safetensors,
    load_state_into,
    load_weights_only,
    save_safetensors,
)
from speechml.ssl.finetune import transcribe_data_dir
from speechml.train.checkpoint import (
    list_checkpoints,
    load_model_weights,
    load_trainer_state,
    save_checkpoint,
)

sys.path.insert(0, str(Path(__file__).parent / "asr"))
from test_transducer import ENCODER  # noqa: E402


class RunsCode:
    """Unpickling it would create ``marker`` (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def tiny_recognizer(vocab: str = "abcd", adapters: tuple[str, ...] = ()) -> Recognizer:
    torch.manual_seed(0)
    tokenizer = CharTokenizer(list(vocab))
    config = TransducerConfig(
        vocab_size=tokenizer.vocab_size,
        encoder=ENCODER,
        predictor=PredictorConfig(embed_dim=8, output_dim=8, dropout=0.0),
        joiner_dim=8,
    )
    model = Transducer(config)
    if adapters:
        add_adapters(model, list(adapters), AdapterConfig(bottleneck_dim=2))
    return Recognizer(model, tokenizer, FbankConfig(num_mel_bins=20), None)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_recognizer(adapters=("kat",)).save(tmp_path_factory.mktemp("asr") / "model")


@pytest.fixture
def copy_of(model_dir: Path, tmp_path: Path):
    def copy() -> Path:
        return Path(shutil.copytree(model_dir, tmp_path / "model"))

    return copy


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_the_saved_model_loads(model_dir: Path) -> None:
    assert Recognizer.load(model_dir).tokenizer.vocab_size == 6


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"not a safetensors file at all" * 4, "header too large"),
        (b"\x01", "header too small"),
        (None, "incomplete metadata"),  # the real file, cut in half
    ],
)
def test_corrupt_weights_name_the_file(copy_of, content: bytes | None, reason: str) -> None:
    weights = copy_of() / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if content is None else content)
    with pytest.raises(ModelError) as err:
        Recognizer.load(weights.parent)
    assert one_line(err).startswith(f"{weights}: cannot read the weights: ")
    assert reason in str(err.value)


def test_a_pickle_renamed_safetensors_is_refused_unread(copy_of, tmp_path: Path) -> None:
    weights = copy_of() / "model.safetensors"
    marker = tmp_path / "ran"
    torch.save({"x": RunsCode(marker)}, weights)
    with pytest.raises(ModelError, match="cannot read the weights"):
        Recognizer.load(weights.parent)
    assert not marker.exists()


def test_model_config_without_vocab_size_names_the_file(copy_of) -> None:
    config = copy_of() / "model_config.json"
    record = json.loads(config.read_text(encoding="utf-8"))
    del record["vocab_size"]
    config.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ModelError) as err:
        Recognizer.load(config.parent)
    assert one_line(err) == (
        f"{config}: cannot build the model it describes: "
        "vocab_size must be set from the tokenizer (blank + symbols)"
    )


def test_model_config_that_is_not_json_is_a_config_error(copy_of) -> None:
    config = copy_of() / "model_config.json"
    config.write_text("{oops", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{config}: invalid JSON"):
        Recognizer.load(config.parent)


def test_weights_of_another_model_say_what_does_not_fit(copy_of, tmp_path: Path) -> None:
    directory = copy_of()
    other = tiny_recognizer(vocab="abcdefgh").save(tmp_path / "other")
    shutil.copy(other / "model.safetensors", directory / "model.safetensors")
    with pytest.raises(ModelError) as err:
        Recognizer.load(directory)
    text = one_line(err)
    assert text.startswith(f"{directory / 'model.safetensors'}: does not fit the model: shape of ")
    assert "(10, 8) in the file, (6, 8) in the model" in text


def test_a_tokenizer_of_another_size_is_refused(copy_of, tmp_path: Path) -> None:
    directory = copy_of()
    shutil.rmtree(directory / "tokenizer")
    CharTokenizer(list("abcdefgh")).save(directory / "tokenizer")
    with pytest.raises(ModelError) as err:
        Recognizer.load(directory)
    assert one_line(err) == (
        f"{directory / 'tokenizer'}: the tokenizer has 10 ids, the model 6 "
        "(model_config.json): not the tokenizer it was trained with"
    )


def test_a_corrupt_adapter_names_its_file(copy_of) -> None:
    weights = copy_of() / "adapters" / "kat" / "adapter_model.safetensors"
    weights.write_bytes(b"\x00" * 7)
    with pytest.raises(ModelError, match=rf"^{weights}: cannot read the weights: "):
        Recognizer.load(weights.parent.parent.parent)


def test_an_adapter_of_another_shape_names_its_file(copy_of) -> None:
    weights = copy_of() / "adapters" / "kat" / "adapter_model.safetensors"
    state = load_safetensors(weights)
    save_file({k: torch.zeros(*v.shape[:-1], v.shape[-1] + 1) for k, v in state.items()}, weights)
    with pytest.raises(ModelError, match=rf"^{weights}: does not fit the model: shape of "):
        Recognizer.load(weights.parent.parent.parent)


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{oops", "cannot read the tokenizer: Expecting property name"),
        ("[1, 2]", "cannot read the tokenizer: list indices must be integers"),
        ('{"kind": "char"}', "cannot read the tokenizer: missing key 'tokens'"),
        ('{"kind": "sentencepiece", "model_type": "bpe", "model_file": "../x"}', "../x"),
    ],
)
def test_malformed_tokenizers_name_the_file(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "tokenizer.json").write_text(content, encoding="utf-8")
    with pytest.raises(ModelError) as err:
        load_tokenizer(tmp_path)
    assert one_line(err).startswith(f"{tmp_path / 'tokenizer.json'}: ")
    assert fragment in str(err.value)


def test_a_corrupt_sentencepiece_model_names_its_file(tmp_path: Path) -> None:
    settings = {"kind": "sentencepiece", "model_type": "bpe", "model_file": "tokenizer.model"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(settings), encoding="utf-8")
    (tmp_path / "tokenizer.model").write_bytes(b"garbage")
    with pytest.raises(ModelError, match=r"tokenizer\.model: cannot read the sentencepiece model"):
        load_tokenizer(tmp_path)


def test_the_cli_prints_one_line_and_exits_1(copy_of, tmp_path: Path, capsys) -> None:
    directory = copy_of()
    (directory / "model.safetensors").write_bytes(b"garbage" * 20)
    out = str(tmp_path / "out")
    status = main(["asr", "merge", "--model", str(directory), "--adapters", "a", "--out", out])
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"speechml asr merge: error: {directory / 'model.safetensors'}: cannot read the "
        "weights: Error while deserializing header: header too large"
    ]


def checkpoint(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    model = torch.nn.Linear(3, 2)
    state = {k: 0 for k in ("optimizer", "scheduler", "rng", "step", "epoch", "batch_in_epoch")}
    return model, save_checkpoint(tmp_path / "checkpoints", model, state, step=5)


def test_a_trainer_state_that_would_run_code_is_refused(tmp_path: Path) -> None:
    _, path = checkpoint(tmp_path)
    marker = tmp_path / "ran"
    torch.save({"optimizer": RunsCode(marker)}, path / "trainer_state.pt")
    with pytest.raises(ModelError) as err:
        load_trainer_state(path)
    assert one_line(err).startswith(
        f"{path / 'trainer_state.pt'}: refused: not a weights-only torch file"
    )
    assert not marker.exists()


def test_corrupt_or_incomplete_trainer_states_name_the_file(tmp_path: Path) -> None:
    _, path = checkpoint(tmp_path)
    assert load_trainer_state(path)["step"] == 0
    state_file = path / "trainer_state.pt"
    state_file.write_bytes(state_file.read_bytes()[:40])
    with pytest.raises(ModelError, match=rf"^{state_file}: cannot read the torch file: "):
        load_trainer_state(path)
    torch.save({"optimizer": {}}, state_file)
    with pytest.raises(ModelError, match=r"not a trainer state \('scheduler' is missing\)"):
        load_trainer_state(path)
    state_file.unlink()
    with pytest.raises(ModelError, match=rf"^{state_file}: file not found"):
        load_weights_only(state_file)


def test_checkpoint_weights_and_records_that_do_not_fit(tmp_path: Path) -> None:
    model, path = checkpoint(tmp_path)
    with pytest.raises(ModelError) as err:
        load_model_weights(torch.nn.Linear(3, 4), path)
    assert one_line(err) == (
        f"{path / 'model.safetensors'}: does not fit the model: shape of weight is (2, 3) in "
        "the file, (4, 3) in the model; shape of bias is (2,) in the file, (4,) in the model"
    )
    (path / "meta.json").write_text('{"metrics": {}}', encoding="utf-8")
    with pytest.raises(
        ModelError, match=r"meta\.json: cannot read the checkpoint record: missing key 'step'"
    ):
        list_checkpoints(tmp_path / "checkpoints")


def test_load_state_into_lists_missing_and_unexpected_weights(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    state = {"0.weight": torch.zeros(2, 2), "9.bias": torch.zeros(2)}
    with pytest.raises(ModelError) as err:
        load_state_into(model, state, "w.safetensors")
    assert one_line(err) == (
        "w.safetensors: does not fit the model: missing weights 0.bias, 1.weight, 1.bias; "
        "unexpected weights 9.bias"
    )
    load_state_into(model, state, "w.safetensors", strict=False)  # shapes agree: loads
    assert torch.equal(model[0].weight, torch.zeros(2, 2))


def test_weights_path_that_is_missing_or_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="weights file not found"):
        load_safetensors(tmp_path / "none.safetensors")
    with pytest.raises(ModelError, match="not a file"):
        load_safetensors(tmp_path)


class TiedLm(torch.nn.Module):
    """An embedding whose output layer shares its weight (tied weights share storage)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(5, 3)
        self.out = torch.nn.Linear(3, 5, bias=False)
        self.out.weight = self.embed.weight


def test_tensors_that_share_storage_are_saved_and_load_back(tmp_path: Path) -> None:
    base = torch.arange(12.0).reshape(3, 4)
    state = {"whole": base, "rows": base[1:], "transposed": base.t(), "again": base}
    path = save_safetensors(state, tmp_path / "views.safetensors")
    loaded = load_safetensors(path)
    assert set(loaded) == set(state)
    for name, tensor in state.items():
        assert torch.equal(loaded[name], tensor), name

    torch.manual_seed(0)
    model, copy = TiedLm(), TiedLm()
    save_safetensors(model, tmp_path / "tied.safetensors")
    load_state_into(copy, load_safetensors(tmp_path / "tied.safetensors"), "tied.safetensors")
    assert torch.equal(copy.embed.weight, model.embed.weight)
    assert torch.equal(copy.out.weight, model.embed.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tied.safetensors", "views.safetensors"]


def test_transformers_directories_never_go_online_and_fail_in_one_line(tmp_path: Path) -> None:
    from transformers import AutoConfig

    with pytest.raises(ModelError, match=r"model directory not found"):
        from_pretrained(AutoConfig.from_pretrained, tmp_path / "facebook" / "wav2vec2-base")
    (tmp_path / "config.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(ModelError) as err:
        from_pretrained(AutoConfig.from_pretrained, tmp_path)
    assert one_line(err).startswith(f"{tmp_path}: cannot read the model directory: ")


def test_a_wav2vec2_dir_with_corrupt_weights_names_the_dir(tmp_path: Path) -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    config = Wav2Vec2Config(
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=8,
        conv_dim=(4,),
        conv_stride=(5,),
        conv_kernel=(10,),
        num_feat_extract_layers=1,
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
        vocab_size=5,
    )
    Wav2Vec2ForCTC(config).save_pretrained(tmp_path / "w2v")
    (tmp_path / "w2v" / "model.safetensors").write_bytes(b"garbage" * 20)
    with pytest.raises(ModelError) as err:
        from_pretrained(Wav2Vec2ForCTC.from_pretrained, tmp_path / "w2v")
    assert one_line(err) == (
        f"{tmp_path / 'w2v'}: cannot read the model directory: "
        "Error while deserializing header: header too large"
    )
    with pytest.raises(ModelError, match=r"cannot read the model directory: Can't load"):
        transcribe_data_dir(tmp_path / "w2v", None)  # no preprocessor_config.json
