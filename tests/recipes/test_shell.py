"""The recipe shell frame: parse_options.sh, stage.sh, run_local.sh, run_slurm.sh, shellcheck."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UTILS = REPO / "recipes" / "utils"

OPTIONS_SCRIPT = f"""#!/usr/bin/env bash
# Usage: opts.sh [options] ARGS
#   --num-jobs N   how many jobs
set -euo pipefail
num_jobs=1
use_gpu=false
out_dir="exp/a b"
. {UTILS}/parse_options.sh
echo "num_jobs=$num_jobs use_gpu=$use_gpu out_dir=$out_dir args=$*"
"""

STAGES_SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
stage=0
stop_stage=100
fail_stage=-1
. {UTILS}/parse_options.sh
. {UTILS}/stage.sh
for n in 1 2 3; do
  if stage_begin "$n" "step $n" "done/$n" input; then
    echo "ran $n"
    [[ $n != "$fail_stage" ]]
    stage_done "done/$n"
  fi
done
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, **kwargs):
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=60, env=env, **kwargs
    )


def fake_command(tmp_path: Path, name: str, script: str) -> Path:
    """Write the executable ``tmp_path/bin/NAME`` and return its folder, to put first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / name).write_text(script)
    (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.fixture
def opts(tmp_path: Path):
    script = tmp_path / "opts.sh"
    script.write_text(OPTIONS_SCRIPT)
    return lambda *args: run(["bash", str(script), *args], tmp_path)


def test_declared_options_are_set_and_arguments_kept(opts) -> None:
    result = opts("--num-jobs", "4", "--out-dir=exp/x", "--use-gpu", "true", "data/train", "-x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "num_jobs=4 use_gpu=true out_dir=exp/x args=data/train -x"


def test_double_dash_ends_the_options(opts) -> None:
    result = opts("--num-jobs", "2", "--", "--not-an-option")
    assert result.stdout.strip().endswith(
        "num_jobs=2 use_gpu=false out_dir=exp/a b args=--not-an-option"
    )


def test_undeclared_option_is_refused_with_the_declared_ones(opts) -> None:
    result = opts("--num-job", "4")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "unknown option --num-job" in result.stderr
    assert "--num-jobs --out-dir --use-gpu" in result.stderr


def test_environment_variables_are_not_options(opts) -> None:
    result = opts("--path", "/tmp")
    assert result.returncode != 0
    assert "unknown option --path" in result.stderr


def test_option_without_value_is_refused(opts) -> None:
    result = opts("--num-jobs")
    assert result.returncode != 0
    assert "--num-jobs needs a value" in result.stderr


def test_help_prints_the_header_and_current_values(opts) -> None:
    result = opts("--num-jobs", "3", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(
        "Usage: opts.sh [options] ARGS\n  --num-jobs N   how many jobs\n"
    )
    assert "#!/usr/bin/env" not in result.stdout
    current = result.stdout.split("Current values:\n")[1].splitlines()
    assert [line.split(maxsplit=1) for line in current] == [
        ["--num-jobs", '"3"'],
        ["--out-dir", '"exp/a b"'],
        ["--use-gpu", '"false"'],
    ]


def test_boolean_options_take_true_or_false(opts) -> None:
    assert "use_gpu=false" in opts("--use-gpu", "false").stdout
    result = opts("--use-gpu", "yes")
    assert result.returncode != 0
    assert "--use-gpu is a boolean" in result.stderr


def test_config_file_is_read_first_and_not_executed(opts, tmp_path: Path) -> None:
    (tmp_path / "my.conf").write_text(
        '# comment\n\nnum_jobs=8\nout_dir="exp/$(touch pwned)"\nuse_gpu=true\n'
    )
    result = opts("--num-jobs", "2", "--config", "my.conf", "arg")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "num_jobs=2 use_gpu=true out_dir=exp/$(touch pwned) args=arg"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("nj=8", "my.conf:1: unknown option --nj"),
        ("PATH=/bin", "my.conf:1: expected name=value"),
        ("echo hi", "my.conf:1: expected name=value"),
        ("use_gpu=1", "my.conf:1: --use-gpu is a boolean"),
    ],
)
def test_config_file_errors_name_the_line(opts, tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "my.conf").write_text(line + "\n")
    result = opts("--config", "my.conf")
    assert result.returncode != 0
    assert message in result.stderr


def stage_script(tmp_path: Path, name: str, text: str):
    """Write script NAME (stages reading the file ``input``) and return a runner of it."""
    script = tmp_path / name
    script.write_text(text)
    (tmp_path / "input").write_text("data\n")
    return lambda *args: run(["bash", str(script), *args], tmp_path)


@pytest.fixture
def stages(tmp_path: Path):
    return stage_script(tmp_path, "stages.sh", STAGES_SCRIPT)


def ran(result) -> list[str]:
    return [line.split()[1] for line in result.stdout.splitlines()]


def test_only_stages_in_the_range_run(stages) -> None:
    result = stages("--stage", "2", "--stop-stage", "2")
    assert result.returncode == 0, result.stderr
    assert ran(result) == ["2"]
    assert "[stages.sh] Stage 2 (step 2)" in result.stderr
    assert "Stage 1" not in result.stderr


def test_done_stage_is_skipped_and_a_stale_marker_reruns(stages, tmp_path: Path) -> None:
    assert ran(stages()) == ["1", "2", "3"]
    again = stages()
    assert ran(again) == []
    assert "Stage 2 (step 2): outputs are newer than the inputs, reusing them" in again.stderr
    marker_time = (tmp_path / "done/1").stat().st_mtime
    os.utime(tmp_path / "input", (marker_time + 10, marker_time + 10))
    assert ran(stages("--stop-stage", "2")) == ["1", "2"]


def test_missing_input_reruns(stages, tmp_path: Path) -> None:
    stages()
    (tmp_path / "input").unlink()
    assert ran(stages("--stage", "3")) == ["3"]


def test_failed_stage_leaves_no_marker(stages, tmp_path: Path) -> None:
    stages()
    marker_time = (tmp_path / "done/2").stat().st_mtime
    os.utime(tmp_path / "input", (marker_time + 10, marker_time + 10))
    result = stages("--fail-stage", "2")
    assert result.returncode != 0
    assert ran(result) == ["1", "2"]
    assert (tmp_path / "done/1").exists()
    assert not (tmp_path / "done/2").exists()


def test_non_integer_stage_is_refused(stages) -> None:
    result = stages("--stage", "two")
    assert result.returncode != 0
    assert "take integers" in result.stderr


SIGNED_SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
stage=0
stop_stage=100
signature=a
. {UTILS}/parse_options.sh
. {UTILS}/stage.sh
if stage_begin 1 "signed" --signature "$signature" done/1 input; then
  echo "ran 1"
  stage_done done/1
fi
"""


@pytest.fixture
def signed(tmp_path: Path):
    return stage_script(tmp_path, "signed.sh", SIGNED_SCRIPT)


def test_same_signature_is_reused_and_a_changed_one_reruns(signed, tmp_path: Path) -> None:
    assert ran(signed("--signature", "corpus=/x/default opts=")) == ["1"]
    assert (tmp_path / "done/1").read_text().splitlines()[1] == "corpus=/x/default opts="
    same = signed("--signature", "corpus=/x/default opts=")
    assert ran(same) == []
    assert "reusing them" in same.stderr
    changed = signed("--signature", "corpus=/x/quick opts=")
    assert ran(changed) == ["1"]
    assert (
        "the settings differ from those of done/1, re-running "
        "(were 'corpus=/x/default opts=', now 'corpus=/x/quick opts=')"
    ) in changed.stderr
    assert ran(signed("--signature", "corpus=/x/default opts=")) == ["1"]


def test_multiline_signature_is_stored_on_one_line(signed, tmp_path: Path) -> None:
    assert ran(signed("--signature", "a\nb")) == ["1"]
    assert (tmp_path / "done/1").read_text().splitlines()[1:] == ["a b"]
    assert ran(signed("--signature", "a\nb")) == []


def test_marker_without_signature_reruns_a_signed_stage(signed, tmp_path: Path) -> None:
    (tmp_path / "done").mkdir()
    (tmp_path / "done/1").write_text("2024-01-01 00:00:00\n")
    marker_time = (tmp_path / "input").stat().st_mtime + 10
    os.utime(tmp_path / "done/1", (marker_time, marker_time))
    assert ran(signed()) == ["1"]


FAKE_SPEECHML = """#!/usr/bin/env bash
# A stand-in for speechml: records its arguments and makes what each verb would write.
# It fails (exit 3) when its arguments start with $FAKE_FAIL.
printf '%s\\n' "$*" >>"$FAKE_CALLS"
[[ -z ${FAKE_FAIL:-} || $* != "$FAKE_FAIL"* ]] || exit 3
prev=""
for arg in "$@"; do
  [[ $prev != --out ]] || mkdir -p "$arg"
  prev=$arg
done
case "$1 $2" in
  "data combine") mkdir -p "$3" && printf '%s\\n' "${@:4}" >"$3/sources" ;;
  "data durations") touch "$3/utt2dur" ;;
esac
"""


@pytest.fixture
def egs(tmp_path: Path):
    """An egs dir with two built corpora and a fake ``speechml``; returns a script runner."""
    bin_dir = fake_command(tmp_path, "speechml", FAKE_SPEECHML)
    egs = tmp_path / "egs"
    (egs / "conf").mkdir(parents=True)
    (egs / "conf/corpus.yaml").write_text("languages: [eng]\n")
    for corpus in ("default", "quick"):
        for split in ("train", "dev", "test"):
            (egs / f"corpus/{corpus}/data/eng/{split}").mkdir(parents=True)
        (egs / f"corpus/{corpus}/.done").write_text("")
    path = f"{bin_dir}:{REPO / 'recipes'}:{UTILS}:{os.environ['PATH']}"

    def run_script(script: str, *args: str, fail: str = "") -> subprocess.CompletedProcess:
        calls = tmp_path / "calls"
        calls.unlink(missing_ok=True)
        env = {**os.environ, "PATH": path, "FAKE_CALLS": str(calls), "FAKE_FAIL": fail}
        result = run([script, *args], egs, env=env)
        result.calls = calls.read_text().splitlines() if calls.exists() else []
        return result

    run_script.dir = egs
    return run_script


def sources(egs_dir: Path, split: str) -> list[str]:
    """The corpus dirs stage 1 combined into ``data/<split>`` (as the fake speechml records)."""
    return (egs_dir / "data" / split / "sources").read_text().splitlines()


def test_data_stage_1_follows_the_corpus_dir_and_config(egs) -> None:
    stage_1 = ("--stage", "1", "--stop-stage", "1")
    assert egs("data.sh", *stage_1).returncode == 0
    assert sources(egs.dir, "dev") == ["corpus/default/data/eng/dev"]
    quick = egs("data.sh", *stage_1, "--corpus-dir", "corpus/quick")
    assert quick.returncode == 0, quick.stderr
    assert sources(egs.dir, "train") == ["corpus/quick/data/eng/train"]
    back = egs("data.sh", *stage_1)
    assert back.returncode == 0, back.stderr
    assert "the settings differ" in back.stderr
    assert sources(egs.dir, "train") == ["corpus/default/data/eng/train"]
    again = egs("data.sh", *stage_1)
    assert "Stage 1 (prepare data dirs): outputs are newer than the inputs" in again.stderr
    assert again.calls == []
    (egs.dir / "conf/corpus.yaml").write_text("languages: [eng, kat]\n")
    assert len(egs("data.sh", *stage_1).calls) == 3
    assert len(egs("data.sh", *stage_1, "--corpus-opts", "--set seed=2").calls) == 3


def test_data_stage_1_refuses_to_write_over_own_data(egs) -> None:
    own = egs.dir / "data/dev"
    own.mkdir(parents=True)
    (own / "text").write_text("u1 my own words\n")
    result = egs("data.sh", "--stage", "1", "--stop-stage", "1")
    assert result.returncode != 0
    assert "data/dev exists and stage 1 did not write it" in result.stderr
    assert "start at stage 2 (--stage 2)" in result.stderr
    assert result.calls == []
    assert (own / "text").read_text() == "u1 my own words\n"
    assert not (egs.dir / "data/train").exists()


def test_data_stage_1_resumes_over_its_own_half_written_dirs(egs) -> None:
    failed = egs("data.sh", "--stage", "1", "--stop-stage", "1", fail="data combine data/dev")
    assert failed.returncode != 0
    assert (egs.dir / "data/train/sources").exists()
    again = egs("data.sh", "--stage", "1", "--stop-stage", "1")
    assert again.returncode == 0, again.stderr
    assert [call.split()[2] for call in again.calls] == ["data/train", "data/dev", "data/test"]


def own_data(egs_dir: Path, *names: str) -> None:
    """Kaldi data dirs data/{train,dev,test} holding empty tables ``names``."""
    for split in ("train", "dev", "test"):
        (egs_dir / "data" / split).mkdir(parents=True, exist_ok=True)
        for name in names:
            (egs_dir / "data" / split / name).write_text("")


def test_data_stage_2_watches_the_optional_tables(egs) -> None:
    own_data(egs.dir, "wav.scp", "text", "utt2spk", "utt2lang", "utt2label")
    stage_2 = ("--stage", "2", "--stop-stage", "2")
    first = egs("data.sh", *stage_2)
    assert first.returncode == 0, first.stderr
    assert sum(call.startswith("data validate") for call in first.calls) == 3
    assert egs("data.sh", *stage_2).calls == []
    marker_time = (egs.dir / "data/.done/2.validate").stat().st_mtime
    os.utime(egs.dir / "data/dev/utt2label", (marker_time + 10, marker_time + 10))
    assert len(egs("data.sh", *stage_2).calls) == 3
    (egs.dir / "data/test/utt2lang").unlink()
    assert len(egs("data.sh", *stage_2).calls) == 3
    (egs.dir / "data/train/segments").write_text("")
    assert len(egs("data.sh", *stage_2).calls) == 3


def test_data_stage_3_stores_every_splits_features_before_the_statistics(egs) -> None:
    own_data(egs.dir, "wav.scp", "text", "utt2spk")
    stage_3 = ("--stage", "3", "--stop-stage", "3", "--nj", "3")
    first = egs("data.sh", *stage_3)
    assert first.returncode == 0, first.stderr
    assert first.calls == [
        "data train-tokenizer --kind char --out data/lang_char data/train",
        "data compute-fbank data/train --nj 3",
        "data compute-fbank data/dev --nj 3",
        "data compute-fbank data/test --nj 3",
        "data compute-cmvn data/train --out data/train/cmvn.json",
    ]
    assert (egs.dir / "exp/data_prep/log/compute_fbank_dev.log").is_file()
    assert egs("data.sh", *stage_3).calls == []
    marker_time = (egs.dir / "data/.done/3.tokenizer_fbank_cmvn").stat().st_mtime
    os.utime(egs.dir / "data/test/wav.scp", (marker_time + 10, marker_time + 10))
    assert len(egs("data.sh", *stage_3).calls) == 5


def test_baseline_skips_the_majority_class_without_utt2label(egs) -> None:
    own_data(egs.dir, "wav.scp", "text", "utt2spk")
    result = egs("baseline.sh", "--stage", "10")
    assert result.returncode == 0, result.stderr
    verbs = [" ".join(call.split()[:2]) for call in result.calls]
    assert verbs == ["baseline asr"] * 2 + ["score wer"] * 2 + ["score results"]
    skip = "data/train has no utt2label: skipping the majority-class system"
    assert "Stage 10 (trivial baselines)" in result.stderr
    assert result.stderr.count(skip) == 2
    again = egs("baseline.sh", "--stage", "10")
    assert "Stage 11 (score the baselines): outputs are newer" in again.stderr
    assert again.calls == ["score results . --out RESULTS.md"]


def test_baseline_runs_the_majority_class_with_utt2label(egs) -> None:
    own_data(egs.dir, "wav.scp", "text", "utt2spk", "utt2label")
    result = egs("baseline.sh", "--stage", "10")
    assert result.returncode == 0, result.stderr
    verbs = [" ".join(call.split()[:2]) for call in result.calls]
    assert verbs.count("baseline cls") == 2
    assert verbs.count("score cls") == 2
    assert "skipping" not in result.stderr


@pytest.mark.parametrize(
    ("script", "missing"),
    [
        ("lda.sh", "--tail-langs is required (ISO 639-3 codes of the tail languages)"),
        ("cls.sh", "--lang is required (ISO 639-3 code of the held-out language)"),
    ],
)
def test_recipes_without_their_language_stop_before_any_job(egs, script: str, missing: str) -> None:
    result = egs(script)
    assert result.returncode != 0
    assert f"error: {missing}" in result.stderr
    assert result.calls == []


def test_the_data_plan_stage_needs_the_tail_languages(egs) -> None:
    result = egs("data.sh", "--stage", "4")
    assert result.returncode != 0
    assert "error: --tail-langs is required (ISO 639-3 codes of the tail languages)" in (
        result.stderr
    )
    assert "Stage 4 (data plan of the tail languages) failed" in result.stderr
    assert result.calls == []


def run_local(tmp_path: Path, *args: str):
    return run([str(UTILS / "run_local.sh"), *args], tmp_path)


def test_run_local_substitutes_job_and_logs_each_job(tmp_path: Path) -> None:
    result = run_local(tmp_path, "JOB=1:3", "exp/x/log/echo.JOB.log", "echo", "part JOB of 3")
    assert result.returncode == 0, result.stderr
    for job in (1, 2, 3):
        lines = (tmp_path / f"exp/x/log/echo.{job}.log").read_text().splitlines()
        assert lines[0] == f"# echo part\\ {job}\\ of\\ 3"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"part {job} of 3"
        assert lines[3].startswith("# Accounting: time=")
        assert lines[4].startswith("# Ended (code 0) at ")


def test_run_local_runs_jobs_in_parallel(tmp_path: Path) -> None:
    # Each job waits until all three have started: this only ends if they run at the same time.
    barrier = (
        'touch started.JOB; for i in $(seq 100); do [ "$(ls started.* | wc -l)" = 3 ] && exit; '
        "sleep 0.05; done; exit 1"
    )
    result = run_local(tmp_path, "JOB=1:3", "log/b.JOB.log", "bash", "-c", barrier)
    assert result.returncode == 0, result.stderr


def test_run_local_max_jobs_run_limits_parallel_jobs(tmp_path: Path) -> None:
    command = "date +%s.%N > start.JOB; sleep 0.2; date +%s.%N > end.JOB"
    result = run_local(
        tmp_path, "--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log", "bash", "-c", command
    )
    assert result.returncode == 0, result.stderr
    spans = sorted(
        (float((tmp_path / f"start.{j}").read_text()), float((tmp_path / f"end.{j}").read_text()))
        for j in (1, 2, 3)
    )
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))


def test_run_local_reports_the_failed_logs(tmp_path: Path) -> None:
    result = run_local(
        tmp_path, "JOB=1:3", "log/f.JOB.log", "bash", "-c", "exit $((JOB == 2 ? 3 : 0))"
    )
    assert result.returncode == 1
    assert "1 of 3 jobs failed; see log/f.2.log" in result.stderr
    assert (tmp_path / "log/f.2.log").read_text().splitlines()[-1].startswith("# Ended (code 3)")
    assert "log/f.1.log" not in result.stderr


#: Arguments that a shell would run: each must reach the command as text.
INJECTIONS = [
    ["a", ";", "touch", "INJECTED"],
    ["a", "&&", "touch", "INJECTED"],
    ["a", "|", "touch", "INJECTED"],
    ["$(touch INJECTED)"],
    ["`touch INJECTED`"],
    ["a\ntouch INJECTED"],
    ["a; touch INJECTED"],
]


@pytest.mark.parametrize("words", INJECTIONS, ids=repr)
def test_run_local_passes_arguments_as_data(tmp_path: Path, words: list[str]) -> None:
    result = run_local(tmp_path, "JOB=1:2", "log/p.JOB.log", "printf", "[%s]\\n", *words)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "INJECTED").exists()
    for job in (1, 2):
        output = (tmp_path / f"log/p.{job}.log").read_text().splitlines()[2:-2]
        assert output == "\n".join(f"[{word}]" for word in words).splitlines()


def test_run_local_fails_with_the_command_killed_by_a_signal(tmp_path: Path) -> None:
    result = run_local(tmp_path, "log/k.log", "bash", "-c", "kill -9 $$")
    assert result.returncode == 1
    assert "1 of 1 jobs failed; see log/k.log" in result.stderr
    assert (tmp_path / "log/k.log").read_text().splitlines()[-1].startswith("# Ended (code 137)")


def test_run_local_refuses_unknown_options(tmp_path: Path) -> None:
    result = run_local(tmp_path, "--max-job-run", "2", "log/x.log", "true")
    assert result.returncode != 0
    assert "unknown option --max-job-run" in result.stderr
    assert (
        run_local(tmp_path, "--mem", "4G", "--gres", "gpu:1", "log/x.log", "true").returncode == 0
    )


FAKE_SBATCH = """#!/usr/bin/env bash
# Records its arguments, then runs the batch script with its arguments once per --array index,
# as `sbatch --wait` would.
printf '%s\\n' "$@" > sbatch.args
array="" script=""
while [[ $# -gt 0 && $1 == --* ]]; do
  [[ $1 == --array=* ]] && array=${1#--array=}
  shift
done
script=$1
shift
array=${array%%%*}
status=0
if [[ -n $array ]]; then
  for ((i = ${array%-*}; i <= ${array#*-}; i++)); do
    SLURM_ARRAY_TASK_ID=$i bash "$script" "$@" || status=1
  done
else
  bash "$script" "$@" || status=1
fi
echo 4242
exit $status
"""


@pytest.fixture
def slurm(tmp_path: Path):
    bin_dir = fake_command(tmp_path, "sbatch", FAKE_SBATCH)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return lambda *args: run([str(UTILS / "run_slurm.sh"), *args], tmp_path, env=env)


def test_run_slurm_submits_an_array_with_the_options(slurm, tmp_path: Path) -> None:
    result = slurm(
        "--partition", "gpu", "--gres", "gpu:1", "--mem", "4G", "--time", "1:00:00",
        "JOB=1:3", "exp/t/log/train.JOB.log", "echo", "job", "JOB",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "sbatch.args").read_text().splitlines()
    assert "--wait" in args
    for option in ("--partition=gpu", "--gres=gpu:1", "--mem=4G", "--time=1:00:00"):
        assert option in args
    assert "--array=1-3" in args
    assert "--export=ALL" in args  # the nodes need path.sh's PATH
    assert "--output=exp/t/log/slurm/train.%A_%a.out" in args
    for job in (1, 2, 3):
        lines = (tmp_path / f"exp/t/log/train.{job}.log").read_text().splitlines()
        assert lines[0] == f"# echo job {job}"
        assert lines[2] == f"job {job}"


def test_run_slurm_single_job_and_failure(slurm, tmp_path: Path) -> None:
    result = slurm("exp/t/log/one.log", "echo", "hi")
    assert result.returncode == 0, result.stderr
    assert not any(a.startswith("--array") for a in (tmp_path / "sbatch.args").read_text().split())
    assert "hi" in (tmp_path / "exp/t/log/one.log").read_text()
    failed = slurm(
        "--max-jobs-run", "1", "JOB=1:2", "log/f.JOB.log", "bash", "-c", "exit $((JOB - 1))"
    )
    assert failed.returncode == 1
    assert "failed jobs: log/f.2.log" in failed.stderr
    assert "--array=1-2%1" in (tmp_path / "sbatch.args").read_text().split()


def test_run_slurm_does_not_take_an_old_log_for_a_job_that_never_ran(tmp_path: Path) -> None:
    bin_dir = fake_command(tmp_path, "sbatch", "#!/usr/bin/env bash\nexit 1\n")
    (tmp_path / "log").mkdir()
    (tmp_path / "log/s.log").write_text("# true\n# Ended (code 0) at yesterday\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = run([str(UTILS / "run_slurm.sh"), "log/s.log", "true"], tmp_path, env=env)
    assert result.returncode == 1
    assert "sbatch exited with 1; failed jobs: log/s.log" in result.stderr
    assert not (tmp_path / "log/s.log").exists()


#: An sbatch --wait --parsable that prints the job id at once and then waits for the job.
WAITING_SBATCH = """#!/usr/bin/env bash
echo '4242;cluster'
exec sleep 30
"""


def test_run_slurm_cancels_its_job_when_terminated(tmp_path: Path) -> None:
    bin_dir = fake_command(tmp_path, "sbatch", WAITING_SBATCH)
    (bin_dir / "scancel").write_text('#!/usr/bin/env bash\necho "$@" > scancel.args\n')
    (bin_dir / "scancel").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    runner = subprocess.Popen(
        [str(UTILS / "run_slurm.sh"), "JOB=1:2", "log/w.JOB.log", "true"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    sleeps = []
    for _ in range(200):
        sleeps = [p for p in Path("/proc").glob("[0-9]*") if is_sleep_of(p, runner.pid)]
        if sleeps:
            break
        time.sleep(0.05)
    assert sleeps, "the fake sbatch did not start"
    runner.terminate()
    assert runner.wait(timeout=10) == 130
    assert (tmp_path / "scancel.args").read_text() == "4242\n"
    assert "interrupted; cancelled Slurm job 4242" in runner.stderr.read()
    time.sleep(0.2)
    assert not is_running(int(sleeps[0].name))


def is_sleep_of(proc: Path, parent: int) -> bool:
    """Whether /proc entry ``proc`` is a ``sleep`` whose parent is process ``parent``."""
    try:
        stat = (proc / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    name = stat.split("(", 1)[1].rsplit(")", 1)[0]
    return name == "sleep" and int(stat.rsplit(")", 1)[1].split()[1]) == parent


@pytest.mark.parametrize("words", INJECTIONS, ids=repr)
def test_run_slurm_passes_arguments_as_data(slurm, tmp_path: Path, words: list[str]) -> None:
    result = slurm("JOB=1:2", "log/p.JOB.log", "printf", "[%s]\\n", *words)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "INJECTED").exists()
    for job in (1, 2):
        output = (tmp_path / f"log/p.{job}.log").read_text().splitlines()[2:-2]
        assert output == "\n".join(f"[{word}]" for word in words).splitlines()


JOB_STAGE_SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
stage=0
stop_stage=100
job=":"
. {UTILS}/parse_options.sh
. {UTILS}/stage.sh
if stage_begin 1 "the job" done/1 input; then
  {UTILS}/run_local.sh log/job.log bash -c "$job"
  stage_done done/1
fi
echo "after the stage"
"""


@pytest.mark.parametrize(
    ("job", "code"), [("exit 1", 1), ("kill -9 $$", 137), ("kill -TERM $$", 143)]
)
def test_a_failed_job_fails_its_stage_and_the_run(tmp_path: Path, job: str, code: int) -> None:
    script = stage_script(tmp_path, "job.sh", JOB_STAGE_SCRIPT)
    assert script().returncode == 0
    marker_time = (tmp_path / "done/1").stat().st_mtime
    os.utime(tmp_path / "input", (marker_time + 10, marker_time + 10))
    result = script("--job", job)
    assert result.returncode != 0
    assert "after the stage" not in result.stdout
    assert not (tmp_path / "done/1").exists()
    assert "run_local.sh: 1 of 1 jobs failed; see log/job.log" in result.stderr
    assert "Stage 1 (the job) failed (exit status 1); it wrote no .done marker" in result.stderr
    assert "done in" not in result.stderr
    log = (tmp_path / "log/job.log").read_text().splitlines()
    assert log[-1].startswith(f"# Ended (code {code}) at ")


def test_a_stage_killed_half_way_leaves_no_marker_and_runs_again(tmp_path: Path) -> None:
    script = stage_script(tmp_path, "job.sh", JOB_STAGE_SCRIPT)
    assert script().returncode == 0
    marker_time = (tmp_path / "done/1").stat().st_mtime
    os.utime(tmp_path / "input", (marker_time + 10, marker_time + 10))
    recipe = subprocess.Popen(
        ["bash", str(tmp_path / "job.sh"), "--job", "touch started; exec sleep 30"],
        cwd=tmp_path, start_new_session=True, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        if (tmp_path / "started").exists():
            break
        time.sleep(0.05)
    os.killpg(recipe.pid, signal.SIGKILL)
    recipe.wait(timeout=10)
    assert not (tmp_path / "done/1").exists()
    again = script()
    assert again.returncode == 0, again.stderr
    assert "Stage 1 (the job) done in" in again.stderr
    assert (tmp_path / "done/1").exists()


def test_recipe_options_reach_the_command_as_data(egs) -> None:
    (egs.dir / "my.conf").write_text('corpus_opts="--set seed=1 ; touch INJECTED"\n')
    result = egs("data.sh", "--stop-stage", "0", "--config", "my.conf")
    assert result.returncode == 0, result.stderr
    assert not (egs.dir / "INJECTED").exists()
    assert result.calls == [
        "corpus build --config conf/corpus.yaml --out corpus/default --nj 2 --set seed=1 ; "
        "touch INJECTED"
    ]


def test_a_failed_corpus_build_fails_the_recipe(egs) -> None:
    result = egs("data.sh", "--stop-stage", "1", fail="corpus build")
    assert result.returncode != 0
    assert "Stage 0 (build the corpus) failed" in result.stderr
    assert "see exp/data_prep/log/corpus_build.log" in result.stderr
    assert len(result.calls) == 1
    log = (egs.dir / "exp/data_prep/log/corpus_build.log").read_text().splitlines()
    assert log[-1].startswith("# Ended (code 3) at ")


SCRIPTS = sorted(
    [*REPO.glob("recipes/*.sh"), *UTILS.glob("*.sh"), *REPO.glob("tools/*.sh"),
     *REPO.glob("egs/*/*.sh")]
)  # fmt: skip


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck(script: Path) -> None:
    result = run(["shellcheck", "-x", str(script)], script.parent)
    assert result.returncode == 0, result.stdout


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_run_local_stops_its_jobs_when_terminated(tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [str(UTILS / "run_local.sh"), "JOB=1:2", "log/s.JOB.log", "bash", "-c",
         "echo $$ > pid.JOB; exec sleep 30"],
        cwd=tmp_path,
    )  # fmt: skip
    pid_files = [tmp_path / "pid.1", tmp_path / "pid.2"]
    for _ in range(200):
        if all(f.exists() and f.read_text().strip() for f in pid_files):
            break
        time.sleep(0.05)
    runner.terminate()
    assert runner.wait(timeout=10) == 130
    time.sleep(0.2)
    for pid_file in pid_files:
        assert not is_running(int(pid_file.read_text()))


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_run_local_shows_a_single_jobs_output_on_a_terminal(tmp_path: Path, on_terminal) -> None:
    command = ["bash", "-c", "echo first; sleep 0.3; echo second"]
    shown = on_terminal([str(UTILS / "run_local.sh"), "log/t.log", *command], cwd=tmp_path)
    assert shown.splitlines() == ["first", "second"]
    assert (tmp_path / "log/t.log").read_text().splitlines()[2:4] == ["first", "second"]


def test_run_local_prints_each_job_end_on_a_terminal(tmp_path: Path, on_terminal) -> None:
    args = ["JOB=1:2", "log/e.JOB.log", "bash", "-c", "echo part JOB"]
    shown = on_terminal([str(UTILS / "run_local.sh"), *args], cwd=tmp_path)
    assert sorted(line.split(" after ")[0] for line in shown.splitlines()) == [
        f"run_local.sh: log/e.{job}.log ended (code 0)" for job in (1, 2)
    ]
    assert "part" not in shown


def test_given_options_passes_on_only_the_options_with_a_value() -> None:
    script = (
        f". {UTILS}/given_options.sh; a=(); "
        'given_options a --nj "" --corpus-dir "corpus/my dir" --iterations 3; '
        'printf "[%s]" "${a[@]}"'
    )
    passed = run(["bash", "-c", script], REPO).stdout
    assert passed == "[--corpus-dir][corpus/my dir][--iterations][3]"
    odd = run(["bash", "-c", f". {UTILS}/given_options.sh; a=(); given_options a --nj"], REPO)
    assert odd.returncode != 0 and "expected --name VALUE pairs" in odd.stderr


def declared_options(script: Path) -> dict[str, str]:
    """The ``name=value`` options a recipe declares before it sources its first file."""
    options = {}
    for line in script.read_text().splitlines():
        if line.startswith(". "):
            break
        if match := re.match(r"^([a-z][a-z0-9_]*)=(.*)$", line):
            options[match[1]] = match[2]
    return options


def test_each_default_of_a_recipe_option_is_declared_once() -> None:
    # stage and stop_stage are each script's own range; run.sh's labelled is the language's counts
    own = {"stage", "stop_stage", "labelled"}
    given = {k for k, v in declared_options(REPO / "egs/kat/run.sh").items() if v and k not in own}
    for recipe in REPO.glob("recipes/*.sh"):
        twice = {k for k, v in declared_options(recipe).items() if v and k in given}
        assert not twice, f"egs/kat/run.sh and {recipe.name} both declare a default of {twice}"


def test_run_sh_passes_on_the_options_given_and_leaves_the_others(
    egs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("run.sh", "cmd.sh", "path.sh"):
        shutil.copy(REPO / "egs/kat" / name, egs.dir / name)
    monkeypatch.setenv(
        "VIRTUAL_ENV", str(tmp_path)
    )  # path.sh puts $VIRTUAL_ENV/bin (the fake) first
    default = egs("./run.sh", "--stop-stage", "0")
    given = egs("./run.sh", "--stop-stage", "0", "--nj", "3", "--corpus-dir", "corpus/quick")
    assert default.returncode == 0, default.stderr
    assert default.calls == ["corpus build --config conf/corpus.yaml --out corpus/default --nj 2"]
    assert given.calls == ["corpus build --config conf/corpus.yaml --out corpus/quick --nj 3"]
