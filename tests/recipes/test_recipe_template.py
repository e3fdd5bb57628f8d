"""``speechml recipe new-lang``: the language entry, the rendered egs dir, its run.sh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from speechml.cli import main
from speechml.config import load_config
from speechml.data.corpus.config import CorpusConfig, LanguageSpec, check_config
from speechml.errors import ConfigError, DataError
from speechml.recipe import (
    HEAD_LANGUAGES,
    TAIL_COMPANIONS,
    TAIL_LABELLED,
    corpus_languages,
    language_spec,
    render_recipe,
    render_template,
    tail_languages,
)

REPO = Path(__file__).resolve().parents[2]


def test_default_language_keeps_its_corpus_entry() -> None:
    assert language_spec("kat") == LanguageSpec("kat", "ka", "ka", "Geor")


def test_new_language_is_derived_from_iso_639_1_and_cldr() -> None:
    assert language_spec("amh") == LanguageSpec("amh", "am", "am", "Ethi")
    assert language_spec("srp") == LanguageSpec("srp", "sr", "sr", "Cyrl")


def test_given_values_win() -> None:
    spec = language_spec("srp", espeak="sr", locale="sr_Latn", script="Latn")
    assert spec == LanguageSpec("srp", "sr", "sr_Latn", "Latn")


def test_unknown_code_is_refused_with_a_hint() -> None:
    with pytest.raises(DataError, match=r"'ka' \(did you mean 'kat'\?\)"):
        language_spec("ka")


def test_language_without_iso_639_1_needs_espeak_and_locale() -> None:
    with pytest.raises(ConfigError, match="ast has no ISO 639-1 code: pass --espeak"):
        language_spec("ast")
    assert language_spec("ast", espeak="an", locale="ast").script == "Latn"


def test_corpus_languages_are_the_heads_with_the_tail_replaced_or_appended() -> None:
    heads, others = list(HEAD_LANGUAGES), list(TAIL_COMPANIONS)
    assert set(heads + others) <= {lang.code for lang in CorpusConfig().languages}
    kat = corpus_languages(language_spec("kat"))
    assert [lang.code for lang in kat] == [*heads, "kat", *others]
    replaced = corpus_languages(LanguageSpec("rus", "ru", "ru", "Latn"))
    assert [lang.code for lang in replaced] == heads + others
    assert replaced[heads.index("rus")].script == "Latn"
    # a companion as the recipe's language is not listed twice
    assert [lang.code for lang in corpus_languages(language_spec("ell"))] == [*heads, "ell", "ara"]


def test_run_sh_defaults_to_several_tail_languages_with_different_labelled_amounts() -> None:
    run_sh = render_template(language_spec("amh"))[Path("run.sh")]
    assert 'tail_langs="amh ell ara"' in run_sh
    assert f'labelled="{" ".join(map(str, TAIL_LABELLED))}"' in run_sh
    assert len(set(TAIL_LABELLED)) == len(TAIL_LABELLED)
    assert tail_languages(language_spec("ell")) == ["ell", "ara"]


def test_corpus_yaml_quotes_values_yaml_would_misread() -> None:
    files = render_template(language_spec("nor"))
    languages = yaml.safe_load(files[Path("conf/corpus.yaml")])["languages"]
    nor = languages[len(HEAD_LANGUAGES)]  # after the head languages, before the other tails
    assert nor == {"code": "nor", "espeak": "no", "locale": "no", "script": "Latn"}


def test_invalid_corpus_entry_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"conf/corpus.yaml: language amh: unknown ISO 15924"):
        render_recipe(language_spec("amh", script="Xyzw"), tmp_path)
    assert not (tmp_path / "amh").exists()


@pytest.fixture
def amh(tmp_path: Path, capsys) -> Path:
    assert main(["recipe", "new-lang", "amh", "--egs-root", str(tmp_path / "egs")]) == 0
    out = tmp_path / "egs" / "amh"
    assert capsys.readouterr().out.strip() == str(out)
    return out


def test_new_lang_renders_the_egs_dir(amh: Path) -> None:
    files = sorted(str(p.relative_to(amh)) for p in amh.rglob("*") if p.is_file())
    assert files == [
        "README.md", "cmd.sh", "conf/adapter.yaml", "conf/asr_base.yaml",
        "conf/asr_rom.yaml", "conf/cls_e2e.yaml", "conf/cls_ngram.yaml", "conf/cls_text.yaml",
        "conf/cls_text_xfer.yaml", "conf/corpus.yaml", "conf/finetune.yaml", "conf/llm.yaml",
        "conf/llm_lm.yaml", "conf/llm_mix.yaml", "conf/llm_mix_dev.yaml",
        "conf/llm_mix_test.yaml", "conf/w2v_cpt.yaml", "conf/w2v_ctc.yaml",
        "conf/w2v_pretrain.yaml",
        "local/README.md", "path.sh", "run.sh",
    ]  # fmt: skip
    assert os.access(amh / "run.sh", os.X_OK)
    assert not os.access(amh / "path.sh", os.X_OK)
    assert "lang=amh\n" in (amh / "run.sh").read_text()
    assert "per-language quirks" in (amh / "local/README.md").read_text().lower()
    assert "Amharic" in (amh / "README.md").read_text()
    assert "@@" not in "".join(p.read_text() for p in amh.rglob("*") if p.is_file())
    config = load_config(CorpusConfig, amh / "conf/corpus.yaml")
    check_config(config, amh / "conf/corpus.yaml")
    assert config.languages[len(HEAD_LANGUAGES)] == LanguageSpec("amh", "am", "am", "Ethi")
    assert config.items_per_utt == (1, 2)  # the recipe's short utterances
    assert config.classes == CorpusConfig().classes


def test_rendered_run_sh_help_works(amh: Path) -> None:
    env = {**os.environ, "SPEECHML_ROOT": str(REPO)}
    result = subprocess.run(
        ["./run.sh", "--help"], cwd=amh, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Amharic (amh) as a tail language")
    for option in ("--stage", "--stop-stage", "--nj", "--lang", "--corpus-opts", "--train-cmd"):
        assert f"\n  {option} " in result.stdout
    assert "Current values:" in result.stdout
    bad = subprocess.run(
        ["./run.sh", "--stages", "2"], cwd=amh, env=env, capture_output=True, text=True, timeout=30
    )
    assert bad.returncode != 0
    assert "unknown option --stages" in bad.stderr


@pytest.mark.parametrize(
    ("virtual_env", "venv", "expected"),
    [
        ("/opt/active", "envs/make", "/opt/active/bin"),
        (None, "envs/make", "{root}/envs/make/bin"),
        (None, "/opt/make", "/opt/make/bin"),
        (None, None, "{root}/.venv/bin"),
    ],
)
def test_path_sh_finds_the_environment(
    amh: Path, virtual_env: str | None, venv: str | None, expected: str
) -> None:
    env = {
        name: value
        for name, value in {**os.environ, "VIRTUAL_ENV": virtual_env, "VENV": venv}.items()
        if value is not None
    }
    env["SPEECHML_ROOT"] = "/repo"
    result = subprocess.run(
        ["bash", "-c", '. ./path.sh && echo "$PATH"'],
        cwd=amh, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(":")[:3] == [
        "/repo/recipes", "/repo/recipes/utils", expected.format(root="/repo")
    ]  # fmt: skip


def test_existing_dir_is_refused_unless_forced(amh: Path, capsys) -> None:
    egs_root = str(amh.parent)
    (amh / "run.sh").write_text("edited\n")
    (amh / "local" / "prepare.sh").write_text("mine\n")
    assert main(["recipe", "new-lang", "amh", "--egs-root", egs_root]) == 1
    assert "exists: pass --force" in capsys.readouterr().err
    assert (amh / "run.sh").read_text() == "edited\n"
    assert main(["recipe", "new-lang", "amh", "--egs-root", egs_root, "--force"]) == 0
    assert (amh / "run.sh").read_text().startswith("#!/usr/bin/env bash\n")
    assert (amh / "local" / "prepare.sh").read_text() == "mine\n"


def test_unknown_code_is_refused_by_the_cli(tmp_path: Path, capsys) -> None:
    assert main(["recipe", "new-lang", "xqz", "--egs-root", str(tmp_path)]) == 1
    assert "unknown ISO 639-3 language code 'xqz'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.espeak
@pytest.mark.parametrize(
    ("args", "voice"),
    [(["yor"], "'yo'"), (["swh", "--espeak", "nosuch", "--locale", "sw"], "'nosuch'")],
)
def test_a_language_without_an_espeak_voice_is_refused(
    tmp_path: Path, capsys, args: list[str], voice: str
) -> None:
    assert main(["recipe", "new-lang", *args, "--egs-root", str(tmp_path)]) == 1
    assert f"espeak-ng has no voice {voice}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_new_lang_sh_without_an_environment_says_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "VENV")}
    env["VENV"] = str(tmp_path / "no-venv")
    result = subprocess.run(
        [str(REPO / "tools/new_lang.sh"), "amh"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"speechml is not installed in {tmp_path / 'no-venv'}: run `make install`" in (
        result.stderr
    )
