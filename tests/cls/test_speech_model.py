"""The speech classifier: head shapes, recogniser initialisation, the hf encoder, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

from speechml.asr.encoder import EncoderConfig
from speechml.asr.recognizer import Recognizer
from speechml.asr.speech_encoders import (
    ConformerOptions,
    ConformerSpeechEncoder,
    HfOptions,
    HfSpeechEncoder,
)
from speechml.asr.transducer import PredictorConfig, Transducer, TransducerConfig
from speechml.cls.speech_model import (
    SpeechClassifier,
    SpeechClassifierConfig,
    classify_data_dir,
)
from speechml.data.audio import write_audio
from speechml.data.datadir import DataDir
from speechml.data.features import CmvnStats, FbankConfig
from speechml.data.table import read_table
from speechml.data.tokenizer import CharTokenizer
from speechml.errors import ConfigError, SpeechmlError

FBANK = FbankConfig(num_mel_bins=20)
TINY_ENCODER = EncoderConfig(
    input_dim=20, d_model=16, num_heads=2, ffn_dim=32, num_layers=1, conv_kernel=3,
    subsampling_channels=4, chunk_size=4, left_chunks=2, dropout=0.0,
)  # fmt: skip
LABELS = ["noise", "tone"]


def tiny_conformer_config(**changes) -> SpeechClassifierConfig:
    """A conformer classifier small enough to train in seconds."""
    options = ConformerOptions(encoder=TINY_ENCODER, fbank=FBANK, cmvn_utts=8)
    return SpeechClassifierConfig(conformer=options, head_dropout=0.0, **changes)


def write_tone_noise_dir(root: Path, name: str, per_class: int, seed: int) -> Path:
    """A data dir of ``per_class`` pure tones and as many white noises, 0.25-0.6 s long.

    Utterance ``spk{1,2}-{tone,noise}{i:02d}``; its label (``utt2label``) is ``tone`` or
    ``noise``, its language ``eng``.
    """
    rng = np.random.default_rng(seed)
    path, data = root / name, DataDir()
    for label in ("tone", "noise"):
        for i in range(per_class):
            utt = f"spk{i % 2 + 1}-{label}{i:02d}"
            times = np.arange(int(16000 * rng.uniform(0.25, 0.6))) / 16000
            if label == "tone":
                samples = 0.5 * np.sin(2 * np.pi * rng.uniform(300, 1500) * times)
            else:
                samples = rng.uniform(-0.4, 0.4, len(times))
            write_audio(path / "audio" / f"{utt}.wav", samples.astype(np.float32), 16000)
            data.wav_scp[utt] = str(path / "audio" / f"{utt}.wav")
            data.utt2spk[utt] = f"spk{i % 2 + 1}"
            data.utt2lang[utt] = "eng"
            data.utt2label[utt] = label
    data.write(path)
    return path


def save_tiny_wav2vec2(directory: Path, feature_extractor: bool = True) -> Path:
    """A randomly initialised Wav2Vec2Model (hidden 32, 2 layers), saved by path."""
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16, 16), conv_kernel=(10, 4, 4), conv_stride=(5, 4, 4),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer", do_stable_layer_norm=True, mask_time_prob=0.0,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        layerdrop=0.0,
    )  # fmt: skip
    Wav2Vec2Model(config).save_pretrained(directory)
    if feature_extractor:
        Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tone_noise(tmp_path_factory) -> DataDir:
    return DataDir.read(write_tone_noise_dir(tmp_path_factory.mktemp("data"), "test", 3, seed=5))


@pytest.fixture(scope="module")
def recognizer_dir(tmp_path_factory) -> Path:
    """A tiny (untrained) recogniser directory with a second pass and CMVN."""
    torch.manual_seed(0)
    encoder = EncoderConfig(**{**TINY_ENCODER.__dict__, "num_second_pass_layers": 1})
    predictor = PredictorConfig(embed_dim=8, output_dim=8, dropout=0.0)
    model = Transducer(TransducerConfig(vocab_size=6, encoder=encoder, predictor=predictor))
    cmvn = CmvnStats(
        2, torch.full((20,), 2.0, dtype=torch.float64), torch.full((20,), 6.0, dtype=torch.float64)
    )
    recognizer = Recognizer(model, CharTokenizer(list("abcd")), FBANK, cmvn)
    return recognizer.save(tmp_path_factory.mktemp("asr") / "model")


def batch_of(classifier: SpeechClassifier, data: DataDir) -> dict:
    dataset = classifier.dataset(data)
    return classifier.collate([dataset[i] for i in range(len(dataset))])


def test_head_gives_one_logit_per_class(tone_noise):
    labels = ["a", "b", "c"]
    for pooling in ("mean", "attention"):
        encoder = ConformerSpeechEncoder(tiny_conformer_config().conformer, None)
        classifier = SpeechClassifier(tiny_conformer_config(pooling=pooling), encoder, labels)
        batch = batch_of(classifier, tone_noise)
        logits = classifier(batch["inputs"], batch["input_lengths"])
        assert logits.shape == (len(tone_noise), len(labels))


def test_feature_bins_must_match_the_encoder_input():
    options = ConformerOptions(encoder=TINY_ENCODER, fbank=FbankConfig(num_mel_bins=40))
    with pytest.raises(ConfigError, match="num_mel_bins"):
        ConformerSpeechEncoder(options, None)


def test_init_from_a_recognizer_copies_its_encoder(recognizer_dir, tone_noise):
    recognizer = Recognizer.load(recognizer_dir)
    options = ConformerOptions(cmvn_utts=8)  # default sizes: replaced by the recogniser's
    encoder = ConformerSpeechEncoder.create(options, recognizer_dir, tone_noise)
    assert encoder.options.encoder == recognizer.model.config.encoder
    assert encoder.options.fbank == recognizer.fbank
    assert torch.equal(encoder.cmvn.mean, recognizer.cmvn.mean)
    source = recognizer.model.encoder.state_dict()
    copied = encoder.encoder.state_dict()
    assert source.keys() == copied.keys()
    assert all(torch.equal(source[key], copied[key]) for key in source)
    # The second pass is pooled: the classifier's frames are the recogniser's second pass.
    classifier = SpeechClassifier(SpeechClassifierConfig(conformer=options), encoder, LABELS)
    batch = batch_of(classifier.eval(), tone_noise)
    frames, lengths = classifier.encoder(batch["inputs"], batch["input_lengths"])
    expected = recognizer.model.encoder(batch["inputs"], batch["input_lengths"])
    assert torch.allclose(frames, expected.second_pass)
    assert torch.equal(lengths, expected.lengths)


def test_fresh_conformer_takes_cmvn_from_the_training_data(tone_noise):
    encoder = ConformerSpeechEncoder.create(tiny_conformer_config().conformer, None, tone_noise)
    dataset = encoder.dataset(tone_noise)
    frames = torch.cat([dataset[i]["feats"] for i in range(len(dataset))])
    assert frames.mean(dim=0).abs().max() < 1e-3
    assert (frames.std(dim=0) - 1).abs().max() < 0.05


def test_conformer_round_trip_gives_identical_predictions(tmp_path, tone_noise):
    config = tiny_conformer_config(pooling="attention")
    encoder = ConformerSpeechEncoder.create(config.conformer, None, tone_noise)
    classifier = SpeechClassifier(config, encoder, LABELS).eval()
    classifier.save(tmp_path / "model")
    loaded = SpeechClassifier.load(tmp_path / "model")
    assert loaded.labels == LABELS and loaded.config == classifier.config
    batch = batch_of(classifier, tone_noise)
    expected = classifier(batch["inputs"], batch["input_lengths"])
    assert torch.equal(loaded(batch["inputs"], batch["input_lengths"]), expected)
    assert loaded.classify(tone_noise) == classifier.classify(tone_noise)
    written = classify_data_dir(tmp_path / "model", tone_noise.path, tmp_path / "decode")
    assert read_table(tmp_path / "decode" / "utt2label") == written
    assert list(written) == tone_noise.utts


def test_loading_an_incomplete_directory_names_the_missing_file(tmp_path, tone_noise):
    encoder = ConformerSpeechEncoder(tiny_conformer_config().conformer, None)
    SpeechClassifier(tiny_conformer_config(), encoder, LABELS).save(tmp_path / "model")
    (tmp_path / "model" / "labels.json").unlink()
    with pytest.raises(SpeechmlError, match="labels.json is missing"):
        SpeechClassifier.load(tmp_path / "model")


@pytest.mark.parametrize("with_extractor", [True, False])
def test_hf_encoder_from_a_saved_wav2vec2(tmp_path, tone_noise, with_extractor):
    pretrained = save_tiny_wav2vec2(tmp_path / "w2v", feature_extractor=with_extractor)
    config = SpeechClassifierConfig(encoder="hf", hf=HfOptions(), head_dropout=0.0)
    encoder = HfSpeechEncoder.create(config.hf, pretrained, tone_noise)
    assert not any(p.requires_grad for p in encoder.model.feature_extractor.parameters())
    classifier = SpeechClassifier(config, encoder, LABELS).eval()
    batch = batch_of(classifier, tone_noise)
    logits = classifier(batch["inputs"], batch["input_lengths"])
    assert logits.shape == (len(tone_noise), 2)
    # An utterance classified alone gives what it gives in the padded batch.
    shortest = int(batch["input_lengths"].argmin())
    alone = classifier.collate([classifier.dataset(tone_noise)[shortest]])
    single = classifier(alone["inputs"], alone["input_lengths"])
    assert torch.allclose(single[0], logits[shortest], atol=1e-5)
    classifier.save(tmp_path / "model")
    assert (tmp_path / "model" / "encoder" / "preprocessor_config.json").is_file() == with_extractor
    loaded = SpeechClassifier.load(tmp_path / "model")
    assert torch.equal(loaded(batch["inputs"], batch["input_lengths"]), logits)


def test_hf_encoder_needs_a_pretrained_directory(tmp_path, tone_noise):
    with pytest.raises(ConfigError, match="pretrained"):
        HfSpeechEncoder.create(HfOptions(), None, tone_noise)
    with pytest.raises(SpeechmlError, match="config.json"):
        HfSpeechEncoder.create(HfOptions(), tmp_path, tone_noise)
