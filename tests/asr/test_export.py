"""ONNX export: sherpa-onnx's offline decoding equals greedy search, onnxruntime streaming equals
torch streaming, sherpa-onnx's online transducer runs the streaming encoder, adapters fold in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechml.asr.adapters import AdapterConfig, add_adapters, languages
from speechml.asr.export import ENCODER, JOINER, OfflineEncoder, export_onnx, tokens_text
from speechml.asr.recognizer import Recognizer
from speechml.asr.search import StreamingGreedyDecoder
from speechml.asr.train import AsrTrainConfig, train_asr
from speechml.cli import main
from speechml.config import from_dict
from speechml.data.audio import load_utterance
from speechml.data.datadir import DataDir
from speechml.data.feature_store import compute_cmvn_stats
from speechml.data.features import FbankConfig, GlobalCMVN, compute_fbank
from speechml.data.tokenizer import train_tokenizer
from speechml.errors import ConfigError
from speechml.optional import import_optional
from speechml.score.trn import read_trn

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("sherpa_onnx")

from speechml.asr.onnx_stream import OnnxTransducer  # noqa: E402
from speechml.asr.sherpa import (  # noqa: E402
    offline_recognizer,
    online_recognizer,
    transcribe,
    transcribe_streaming,
)

#: subtracted from the blank's log-probability in every search: a briefly trained model emits
PENALTY = 1.0


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data_dir_writer, tiny_asr_config):
    """A data dir, a tiny model briefly trained on it, and its int8 export. The model is
    decoded with a blank penalty of ``PENALTY`` everywhere, so that it emits tokens."""
    root = tmp_path_factory.mktemp("export")
    data = data_dir_writer(root, num_utts=8, num_speakers=2, languages=("eng", "kat"))
    train_tokenizer(DataDir.read(data).text.values(), "char", None, root / "lang")
    compute_cmvn_stats(DataDir.read(data), FbankConfig()).save(root / "cmvn.json")
    settings = tiny_asr_config(max_steps=30, valid_utts=2)
    settings["train"]["valid_every"] = 30
    config = from_dict(AsrTrainConfig, settings)
    train_asr(config, data, data, root / "exp", root / "lang", root / "cmvn.json")
    model, onnx_dir = root / "exp" / "model", root / "onnx"
    assert main(["asr", "export", "--model", str(model), "--out", str(onnx_dir), "--int8"]) == 0
    return data, model, onnx_dir


def decode_cli(data, out, *options) -> dict[str, str]:
    """``speechml asr decode`` (blank penalty ``PENALTY``) through the CLI; returns hyp.trn."""
    penalty = ["--blank-penalty", str(PENALTY)]
    assert main(["asr", "decode", "--data", str(data), "--out", str(out), *penalty, *options]) == 0
    return read_trn(out / "hyp.trn")


def sherpa_texts(recognizer, data) -> dict[str, str]:
    """Each utterance of ``data`` decoded by a sherpa-onnx offline recogniser."""
    dir_ = DataDir.read(data)
    return {u: transcribe(recognizer, load_utterance(dir_, u, 16000), 16000) for u in dir_.utts}


def char_errors(hyps: dict[str, str], refs: dict[str, str]) -> float:
    """Character error rate of ``hyps`` against ``refs``."""
    import jiwer

    return jiwer.cer([refs[u] for u in sorted(refs)], [hyps[u] for u in sorted(refs)])


def test_export_dir_has_sherpa_layout(exported):
    _, _, onnx_dir = exported
    names = {p.name for p in onnx_dir.iterdir()}
    for stem in ("encoder", "decoder", "joiner", "streaming_encoder"):
        assert {f"{stem}.onnx", f"{stem}.int8.onnx"} <= names
    tokens = (onnx_dir / "tokens.txt").read_text(encoding="utf-8").splitlines()
    assert tokens[:2] == ["<blank> 0", "<unk> 1"]
    meta = ort.InferenceSession(str(onnx_dir / "decoder.onnx")).get_modelmeta()
    assert meta.custom_metadata_map["context_size"] == "2"
    assert meta.custom_metadata_map["vocab_size"] == str(len(tokens))


def test_sherpa_offline_equals_greedy_search(exported, tmp_path):
    data, model, onnx_dir = exported
    greedy = decode_cli(data, tmp_path / "greedy", "--model", str(model), "--max-symbols", "1")
    assert sum(len(t) for t in greedy.values()) > 0, "the model emits no token: train longer"
    assert sherpa_texts(offline_recognizer(onnx_dir, blank_penalty=PENALTY), data) == greedy
    int8 = sherpa_texts(offline_recognizer(onnx_dir, int8=True, blank_penalty=PENALTY), data)
    refs = DataDir.read(data).text
    print(f"CER fp32 {char_errors(greedy, refs):.3f}, int8 {char_errors(int8, refs):.3f}")


def test_onnxruntime_streaming_equals_torch_streaming(exported, tmp_path):
    data, model, onnx_dir = exported
    torch_hyps = decode_cli(
        data, tmp_path / "torch", "--model", str(model), "--method", "streaming"
    )
    onnx_hyps = decode_cli(data, tmp_path / "ort", "--onnx", str(onnx_dir), "--method", "streaming")
    assert sum(len(t) for t in torch_hyps.values()) > 0
    assert onnx_hyps == torch_hyps
    assert "onnxruntime" in (tmp_path / "ort" / "system.txt").read_text()
    # token by token, on features whose last chunk is short and not a multiple of 4 frames
    recognizer, onnx_model = Recognizer.load(model), OnnxTransducer(onnx_dir)
    feats = torch.randn(2 * onnx_model.frames + 7, 80) * 3
    decoder = StreamingGreedyDecoder(recognizer.model, blank_penalty=PENALTY)
    normed = GlobalCMVN(recognizer.cmvn)(feats)[None]
    for chunk in normed.split(onnx_model.frames, dim=1):
        decoder.accept(chunk)
    assert onnx_model.decode(feats.numpy(), blank_penalty=PENALTY).tokens == decoder.finish().tokens


def test_sherpa_online_runs_the_streaming_encoder(exported):
    data, _, onnx_dir = exported
    recognizer = online_recognizer(onnx_dir, blank_penalty=PENALTY)
    onnx_model = OnnxTransducer(onnx_dir)
    texts = []
    for utt in DataDir.read(data).utts:
        samples = load_utterance(DataDir.read(data), utt, 16000)
        feats = compute_fbank(samples, onnx_model.fbank).numpy()
        # sherpa-onnx decodes a chunk only when more frames than a chunk are there
        whole = (feats.shape[0] - 1) // onnx_model.frames * onnx_model.frames
        ours = onnx_model.decode(feats[:whole], max_symbols=1, blank_penalty=PENALTY).tokens
        expected = "".join(onnx_model.symbols[i] for i in ours).replace("▁", " ").strip()
        texts.append((transcribe_streaming(recognizer, samples, 16000), expected))
    assert [a for a, _ in texts] == [b for _, b in texts]
    assert any(b for _, b in texts)


def test_lang_folds_that_adapter_into_the_encoder(exported, tmp_path):
    _, model, _ = exported
    recognizer = Recognizer.load(model)
    add_adapters(recognizer.model, ["kat"], AdapterConfig(init_scale=0.5))
    recognizer.model.eval()
    export_onnx(recognizer, tmp_path / "kat", lang="kat")
    export_onnx(recognizer, tmp_path / "base")
    feats = torch.randn(1, 50, 80)
    lengths = torch.tensor([50])
    for lang, path in (("kat", "kat"), (None, "base")):
        session = ort.InferenceSession(str(tmp_path / path / ENCODER))
        out = session.run(None, {"x": feats.numpy(), "x_lens": lengths.numpy()})[0]
        with languages(recognizer.model, [lang]), torch.no_grad():
            cmvn = GlobalCMVN(recognizer.cmvn)
            expected = OfflineEncoder(recognizer.model, cmvn)(feats, lengths)[0]
        assert np.abs(out - expected.numpy()).max() < 1e-4
    with pytest.raises(Exception, match="no adapter for language 'ell'"):
        export_onnx(recognizer, tmp_path / "ell", lang="ell")


def test_lang_folds_the_joiner_bias_and_lora_into_the_joiner(exported, tmp_path):
    _, model, _ = exported
    recognizer = Recognizer.load(model)
    config = AdapterConfig(layers=[], joiner_bias=True, joiner_lora_rank=2)
    add_adapters(recognizer.model, ["kat"], config)
    with torch.no_grad():  # as if trained: the parts start as the identity
        for name, parameter in recognizer.model.named_parameters():
            if ".adapters.kat." in name:
                parameter.copy_(torch.randn_like(parameter))
    recognizer.model.eval()
    export_onnx(recognizer, tmp_path / "kat", lang="kat")
    session = ort.InferenceSession(str(tmp_path / "kat" / JOINER))
    hidden = recognizer.model.config.joiner_dim
    enc, dec = torch.randn(3, hidden), torch.randn(3, hidden)
    out = session.run(None, {"encoder_out": enc.numpy(), "decoder_out": dec.numpy()})[0]
    with languages(recognizer.model, ["kat"] * 3), torch.no_grad():
        expected = recognizer.model.joiner.combine(enc, dec)
        base = recognizer.model.joiner.out.block(torch.tanh(enc + dec))
    assert np.abs(out - expected.numpy()).max() < 1e-4
    assert np.abs(out - base.numpy()).max() > 1e-2


def test_bad_tokens_and_missing_extras_are_clear_errors():
    with pytest.raises(ConfigError, match=r"token 2 \('a b'\)"):
        tokens_text(["<blank>", "<unk>", "a b"])
    with pytest.raises(ConfigError, match=r"pip install 'speechml\[deploy\]'"):
        import_optional("speechml_no_such_module", "deploy")
