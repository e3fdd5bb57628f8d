"""Import an optional extra (``pip install 'speechml[EXTRA]'``) with a clear error if it is missing.

Example:
    >>> ort = import_optional("onnxruntime", "deploy")
"""

from __future__ import annotations

import importlib
from types import ModuleType

from speechml.errors import ConfigError


def import_optional(module: str, extra: str) -> ModuleType:
    """The module ``module``, or a ConfigError saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise ConfigError(
            f"{top} is not installed; it is an optional extra: pip install 'speechml[{extra}]'"
        ) from None
