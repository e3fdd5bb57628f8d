"""Reading model files that a user gives by path, safely, with one-line errors; writing
safetensors state dicts.

A model directory, checkpoint, adapter or pretrained transformers directory may be missing,
truncated, corrupt, of the wrong kind or made for another model. Whatever the library
underneath raises for it (safetensors' ``SafetensorError: header too large``, pickle's
``UnpicklingError`` from a weights-only ``torch.load``, transformers' ``OSError``, a
``RuntimeError`` of ``load_state_dict``...) becomes a :class:`~speechml.errors.ModelError`
that names the file and says what is wrong in one line. No code from a file ever runs:
weights are read with safetensors or ``torch.load(weights_only=True)``, transformers
directories with ``local_files_only=True`` and ``trust_remote_code=False``.

Example:
    >>> from speechml.asr.recognizer import Recognizer
    >>> model = Recognizer.load("exp/base/model").model
    >>> state = load_safetensors("exp/base/model/model.safetensors")
    >>> load_state_into(model, state, "exp/base/model/model.safetensors")
    >>> from transformers import AutoModelForCausalLM
    >>> lm = from_pretrained(AutoModelForCausalLM.from_pretrained, "exp/llm_lm/model")
    >>> from_pretrained(AutoModelForCausalLM.from_pretrained, "exp/nowhere")
    Traceback (most recent call last):
    speechml.errors.ModelError: exp/nowhere: model directory not found
    >>> save_safetensors(model, "exp/base/model/model.safetensors")
    PosixPath('exp/base/model/model.safetensors')
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from safetensors.numpy import load_file as load_numpy_file

from speechml.errors import ModelError, shorten
from speechml.io import READ_ERRORS, atomic_path, one_line, reading

if TYPE_CHECKING:  # torch is imported where a function needs it: numpy weights need none
    import torch

T = TypeVar("T")

#: How many names an error lists (missing weights...) before it says "and N more".
SHOWN_NAMES = 3


def load_safetensors(path: str | Path, framework: Literal["pt", "numpy"] = "pt") -> dict[str, Any]:
    """The tensors of a safetensors file (torch tensors, or numpy arrays with ``"numpy"``).

    Raises:
        ModelError: the file is missing, not a file, truncated or not safetensors, e.g.
            ``exp/x/model.safetensors: cannot read the weights: Error while deserializing
            header: header too large``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError("weights file not found" if not path.exists() else "not a file", path)
    with reading(path, "weights"):
        if framework == "numpy":
            return load_numpy_file(str(path))
        from safetensors.torch import load_file

        return load_file(str(path))


def save_safetensors(state: Mapping[str, torch.Tensor] | torch.nn.Module, path: str | Path) -> Path:
    """Write a state dict (or a module's) to the safetensors file ``path``, atomically.

    Each tensor is saved as a detached, contiguous CPU copy of its own, so tensors that share
    storage (tied weights, views), which safetensors refuses, are saved too; they load back
    as separate tensors of the same values. Read the file with :func:`load_safetensors`.

    Returns:
        ``path``.
    """
    import torch
    from safetensors.torch import save_file

    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    tensors = {
        name: tensor.detach().cpu().clone(memory_format=torch.contiguous_format)
        for name, tensor in state.items()
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))
    return path


def load_weights_only(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU: tensors and plain values only.

    Raises:
        ModelError: the file is missing, corrupt, or holds objects a weights-only load
            refuses (it would run code): it is never retried without ``weights_only``.
    """
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError("file not found", path) from None
    except pickle.UnpicklingError:
        raise ModelError(
            "refused: not a weights-only torch file (it holds objects whose loading would run "
            "code, or it is corrupt)",
            path,
        ) from None
    except READ_ERRORS as err:
        raise ModelError(f"cannot read the torch file: {one_line(err)}", path) from None


def load_state_into(
    module: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    path: str | Path,
    strict: bool = True,
) -> None:
    """``module.load_state_dict(state)``, after checking that the weights fit.

    Args:
        module: the model (or part) to load into.
        state: name -> tensor, as read from ``path``.
        path: the file the weights came from, named in errors.
        strict: every weight of ``module`` must be in ``state`` and nothing else; with
            False, only the shapes of the weights both have are checked.

    Raises:
        ModelError: weights missing or unexpected, or of another shape, e.g.
            ``x/model.safetensors: does not fit the model: shape of joiner.out.weight is
            (12, 16) in the file, (30, 16) in the model``.
    """
    expected = module.state_dict()
    problems = []
    if strict:
        missing = [name for name in expected if name not in state]
        unexpected = [name for name in state if name not in expected]
        if missing:
            problems.append(f"missing weights {shorten(missing, SHOWN_NAMES)}")
        if unexpected:
            problems.append(f"unexpected weights {shorten(unexpected, SHOWN_NAMES)}")
    wrong = [
        f"shape of {name} is {tuple(state[name].shape)} in the file, "
        f"{tuple(expected[name].shape)} in the model"
        for name in expected
        if name in state and state[name].shape != expected[name].shape
    ]
    if wrong:
        problems.append(shorten(wrong, SHOWN_NAMES, sep="; "))
    if problems:
        raise ModelError("does not fit the model: " + "; ".join(problems), path)
    try:
        module.load_state_dict(state, strict=strict)
    except RuntimeError as err:  # a dtype that cannot be copied, ...
        raise ModelError(f"does not fit the model: {one_line(err)}", path) from None


def from_pretrained(load: Callable[..., T], directory: str | Path, **options: Any) -> T:
    """``load(directory, local_files_only=True, trust_remote_code=False, **options)``: a
    transformers or peft ``from_pretrained`` that downloads nothing and runs no code.

    Args:
        load: e.g. ``AutoModel.from_pretrained``, ``AutoTokenizer.from_pretrained``.
        directory: a local directory (a name that is not one is never looked up online).
        options: passed on (``dtype``, ``ignore_mismatched_sizes``...).

    Raises:
        ModelError: the directory is missing, or transformers cannot load it (bad JSON,
            missing or corrupt weights, weights of another shape...), naming it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError("model directory not found", directory)
    options = {"local_files_only": True, "trust_remote_code": False, **options}
    with reading(directory, "model directory"):
        return load(directory, **options)
