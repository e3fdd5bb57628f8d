"""Atomic file writing (write to a temporary name in the same directory, then rename), and
reading a model file that a user gives with a one-line error (:func:`reading`).

A reader never sees a half-written file, and a run killed while writing leaves the old
file (or none) in place. What is written gets the mode of the file it replaces, else the
mode the process's umask gives a new file (``0o666 & ~umask``, directories ``0o777 & ~umask``),
as if it had been written in place: a temporary file is not left owner-only.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from safetensors import SafetensorError

from speechml.errors import ConfigError, ModelError


def _hidden_beside(path: Path, suffix: str) -> Path:
    """A new hidden name in ``path``'s directory: ``.<name>.<random hex><suffix>``."""
    return path.parent / f".{path.name}.{secrets.token_hex(8)}{suffix}"


def _take_mode_of(target: Path, tmp: Path) -> None:
    """Give ``tmp`` the permission bits of ``target`` if it exists (a rewrite keeps them)."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success rename it onto ``path``.

    The temporary file exists (empty) when yielded; writers may overwrite or replace it. On an
    exception it is removed and ``path`` is left as it was.

    Example:
        >>> with atomic_path("exp/notes.txt") as tmp_file:
        ...     _ = tmp_file.write_text("written whole or not at all")
        >>> Path("exp/notes.txt").read_text()
        'written whole or not at all'
        >>> with atomic_path("exp/notes.txt") as tmp_file:
        ...     _ = tmp_file.write_text("half")
        ...     raise OSError("No space left on device")  # fails half way
        Traceback (most recent call last):
        OSError: No space left on device
        >>> Path("exp/notes.txt").read_text()  # left as it was
        'written whole or not at all'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _hidden_beside(path, ".tmp")
    # Created with 0o666 and O_EXCL: the kernel applies the umask (mkstemp would give 0o600).
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        _take_mode_of(path, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new empty directory beside ``path``; on success it replaces ``path`` whole.

    An existing ``path`` (a directory) is moved aside, the new one renamed onto it, and the old
    one deleted, so ``path`` is missing only between two renames. On an exception the new
    directory is deleted and ``path`` is left as it was. Deciding whether ``path`` may be
    replaced at all is the caller's job.

    Example:
        >>> with atomic_dir("exp/export") as tmp:
        ...     _ = (tmp / "tokens.txt").write_text("a 0")
        >>> sorted(path.name for path in Path("exp/export").iterdir())
        ['tokens.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _hidden_beside(path, ".tmp")
    tmp.mkdir(mode=0o777)  # masked by the umask (mkdtemp would give 0o700)
    try:
        yield tmp
        _take_mode_of(path, tmp)
        if not path.exists():
            os.replace(tmp, path)
            return
        old = _hidden_beside(path, ".old")
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise
        shutil.rmtree(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (LF line endings)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def require_model_dir(directory: str | Path) -> Path:
    """``directory`` as a Path, checked to hold a transformers model (``config.json``).

    Raises:
        ConfigError: it does not.
    """
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise ConfigError(f"{directory}: no config.json (not a transformers model directory)")
    return directory


#: What reading an untrusted model file can raise, besides our own errors.
READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    RuntimeError,
    SafetensorError,
    pickle.UnpicklingError,
)


def one_line(err: BaseException) -> str:
    """The error's message on one line (transformers and torch write several); a KeyError
    says which key is missing, an error without a message gives its type.

    Example:
        >>> one_line(KeyError("kind")), one_line(RuntimeError("a\\n  b"))
        ("missing key 'kind'", 'a b')
    """
    if isinstance(err, KeyError) and err.args:
        return f"missing key {err.args[0]!r}"
    return " ".join(str(err).split()) or type(err).__name__


@contextlib.contextmanager
def reading(path: str | Path, what: str = "model file") -> Iterator[None]:
    """Turn any error of reading ``path`` (:data:`READ_ERRORS`) into a ModelError naming it.

    Example:
        >>> from safetensors.numpy import load_file
        >>> _ = Path("exp/broken.safetensors").write_bytes(b"not safetensors")
        >>> with reading("exp/broken.safetensors", "weights"):
        ...     load_file("exp/broken.safetensors")
        Traceback (most recent call last):
        speechml.errors.ModelError: exp/broken.safetensors: cannot read the weights: ...
    """
    try:
        yield
    except READ_ERRORS as err:
        raise ModelError(f"cannot read the {what}: {one_line(err)}", path) from None
