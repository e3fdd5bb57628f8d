"""The import rules of docs/architecture.md, enforced: every import of every module of speechml/.

Imports are read with :mod:`ast` (top-level and inside functions, ``import speechml.x``,
``from speechml.x import y``, ``from speechml import x`` and relative imports), so a module
that is never imported by a test is checked too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "speechml"

#: The layers, lowest first: layer -> (its modules or packages under speechml/, the layers it
#: may import besides itself). docs/architecture.md shows this table; change both together.
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "base": (
        (
            "errors",
            "io",
            "config",
            "optional",
            "plots",
            "markdown",
            "model_files",
            "experiment",
            "progress",
        ),
        (),
    ),
    "lang": (("lang",), ("base",)),
    "data": (("data",), ("base", "lang")),
    "train": (("train",), ("base", "lang", "data")),
    "score": (("score",), ("base", "lang", "data")),
    "text": (("text",), ("base", "lang", "data", "train")),
    "asr": (("asr",), ("base", "lang", "data", "train", "score", "text")),
    "ssl": (("ssl",), ("base", "lang", "data", "train", "score", "text")),
    "baseline": (("baseline",), ("base", "lang", "data", "train", "score", "text")),
    "recipe": (("recipe",), ("base", "lang", "data", "train", "score", "text")),
    "cls": (("cls",), ("base", "lang", "data", "train", "score", "text", "asr", "ssl")),
    "llm": (("llm",), ("base", "lang", "data", "train", "score", "text", "asr", "ssl")),
    "cli": (("cli",), ("*",)),
}

#: Top-level names that no module of speechml/ may import: the repository's other parts.
OUTSIDE = frozenset({"egs", "recipes", "tools", "bench", "tests"})

LAYER_OF = {part: layer for layer, (parts, _) in LAYERS.items() for part in parts}


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name under ``speechml`` (``speechml`` itself is ``base``)."""
    parts = module.split(".")
    return "base" if len(parts) == 1 else LAYER_OF.get(parts[1])


def may_import(layer: str, other: str) -> bool:
    allowed = LAYERS[layer][1]
    return other == layer or "*" in allowed or other in allowed


def _is_submodule(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name).is_dir()


def imported_modules(module: str, source: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every import in ``source``, relative ones made absolute."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + is_package]
                name = ".".join([*base, name] if name else base)
            if name == "speechml":
                found += [
                    (node.lineno, f"speechml.{alias.name}" if _is_submodule(alias.name) else name)
                    for alias in node.names
                ]
            else:
                found.append((node.lineno, name))
    return found


def violations(module: str, source: str, where: str, is_package: bool = False) -> list[str]:
    """One line per import of ``module`` (source ``source``, file ``where``) that breaks a rule."""
    layer = layer_of(module)
    if layer is None:
        return [f"{where}: module {module} is in no layer: add it to LAYERS in {__file__}"]
    found = []
    for line, name in imported_modules(module, source, is_package):
        top = name.split(".")[0]
        if top in OUTSIDE:
            found.append(f"{where}:{line}: {module} imports {name} (outside speechml/)")
        elif top == "speechml":
            other = layer_of(name)
            if other is None or not may_import(layer, other):
                allowed = ", ".join((layer, *LAYERS[layer][1]))
                found.append(
                    f"{where}:{line}: {module} ({layer}) imports {name} ({other}); "
                    f"{layer} may import only: {allowed}"
                )
    return found


def package_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules.append((name, path))
    return modules


def test_every_module_imports_only_what_its_layer_allows() -> None:
    found = []
    for module, path in package_modules():
        where = str(path.relative_to(PACKAGE.parent))
        found += violations(module, path.read_text(), where, path.name == "__init__.py")
    assert not found, "\n".join(found)


def test_every_layer_names_existing_modules() -> None:
    missing = [part for part in LAYER_OF if not _is_submodule(part)]
    assert not missing, f"LAYERS names modules that do not exist: {missing}"


@pytest.mark.parametrize(
    ("module", "source", "bad"),
    [
        ("speechml.data.x", "from speechml.text.romanize import romanize", "text.romanize"),
        ("speechml.data.x", "def f():\n    import speechml.asr.search\n", "speechml.asr.search"),
        ("speechml.asr.x", "from speechml import cls", "speechml.cls"),
        ("speechml.asr.x", "from ..llm import model", "speechml.llm"),
        ("speechml.lang.x", "from speechml.data.datadir import DataDir", "speechml.data.datadir"),
        ("speechml.score.x", "import tools.install", "tools.install"),
        ("speechml.nowhere", "import os", "in no layer"),
    ],
)
def test_a_broken_rule_is_named(module: str, source: str, bad: str) -> None:
    found = violations(module, source, "f.py")
    assert len(found) == 1 and module in found[0] and bad in found[0]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("speechml.cls.x", "from speechml.asr.recognizer import Recognizer"),
        ("speechml.text.x", "from speechml.data.datadir import DataDir\nimport speechml.lang"),
        ("speechml.cli.x", "from speechml import __version__\nfrom speechml.llm import model"),
        ("speechml.data.x", "from .datadir import DataDir\nimport numpy"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert violations(module, source, "f.py") == []
