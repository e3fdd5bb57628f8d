"""Typed, strict configuration: dataclasses loaded from YAML with dotted overrides.

A config is a (frozen or plain) dataclass whose fields carry defaults and a comment each.
:func:`load_config` reads a YAML file into it; a key that the dataclass does not declare is an
error naming the key and the file; values are checked against the field types. Overrides
from the command line (``--set model.num_layers=6``) are applied on top, parsed as YAML
scalars. :func:`save_config` writes the resolved config back as YAML.

Example:
    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Model:
    ...     num_layers: int = 4  # encoder layers
    >>> @dataclass
    ... class Top:
    ...     model: Model = field(default_factory=Model)
    >>> from_dict(Top, {"model": {"num_layers": 6}}).model.num_layers
    6
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from speechml.errors import ConfigError
from speechml.io import atomic_write_text

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it where lossless."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Annotated:
        value = _coerce(value, args[0], where)
        for registry in (meta for meta in tp.__metadata__ if isinstance(meta, Registry)):
            registry.check_name(value, where)
        return value
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {_type_name(tp)}, got {value!r}")
        return _from_mapping(tp, value, where)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            pairs = enumerate(zip(args, value, strict=True))
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (a, v) in pairs)
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_tp, val_tp = args if args else (Any, Any)
        return {
            _coerce(k, key_tp, where): _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()
        }
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    return value


def _from_mapping(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    not_used = [key for key in unknown if key in getattr(cls, "NOT_USED", {})]
    if not_used:
        key = not_used[0]
        raise ConfigError(
            f"{where + '.' if where else ''}{key}: not used by {cls.__name__} "
            f"({cls.NOT_USED[key]}); drop it"
        )
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} for {cls.__name__} "
            f"(known keys: {', '.join(sorted(fields))})"
        )
    kwargs = {
        name: _coerce(value, hints[name], f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where or cls.__name__}: {err}") from None


def from_dict(cls: type[T], data: Mapping[str, Any], source: str = "") -> T:
    """Build the dataclass ``cls`` from a nested mapping, strictly.

    Args:
        cls: the config dataclass.
        data: nested mapping of plain values (as read from YAML).
        source: where the data came from (a file name), used in error messages.

    A dataclass may name keys it refuses with a reason, in a class attribute
    ``NOT_USED: ClassVar[dict[str, str]]`` (a section that a sibling config has and this one's
    verb takes from elsewhere, e.g. the model of a fine-tuning from the model being tuned).

    Raises:
        ConfigError: on an unknown or a not-used key (named, with the source) or a value of the
            wrong type.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source or cls.__name__}: expected a mapping at the top level")
    try:
        return _from_mapping(cls, data, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}" if source else str(err)) from None


def to_dict(config: Any) -> dict[str, Any]:
    """Turn a config dataclass into nested plain values (paths as strings, tuples as lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=value"`` into (``["a", "b", "c"]``, value parsed as a YAML scalar)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. model.num_layers=6")
    key, raw = text.split("=", 1)
    keys = key.strip().split(".")
    if not all(keys):
        raise ConfigError(f"override {text!r}: empty key")
    value = parse_yaml(raw, f"override {text!r}") if raw.strip() else ""
    return keys, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``--set`` style overrides to a nested dict in place and return it."""
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {key!r} is not a section")
            node = child
        node[keys[-1]] = value
    return data


class _DuplicateKey(yaml.YAMLError):
    """A mapping holds ``key`` twice: on ``first_line`` and on ``line`` (1-based)."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(f"duplicated key {key!r}")
        self.key, self.line, self.first_line = key, line, first_line


class _StrictLoader(yaml.SafeLoader):
    """yaml's SafeLoader (plain data only, no tags that build objects) that refuses a mapping
    holding the same key twice, where SafeLoader silently keeps the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *defaults`` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader's own error reports it
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise _DuplicateKey(key, line, first_line[key])
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML ``text`` as plain data (yaml's safe subset); a duplicated key is an error.

    Args:
        text: the YAML document.
        source: where it came from (a file name, ``--set x=...``), named in errors.

    Raises:
        ConfigError: a syntax error, or a key given twice in one mapping, e.g.
            ``conf/train.yaml:7: duplicated key 'lr' (first on line 3)``.

    Example:
        >>> parse_yaml("a: 1\\nb: [2, 3]\\n", "conf.yaml")
        {'a': 1, 'b': [2, 3]}
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as err:
        raise ConfigError(
            f"{source}:{err.line}: duplicated key {err.key!r} (first on line {err.first_line})"
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: invalid YAML: {err}") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with :func:`parse_yaml`.

    Raises:
        ConfigError: a missing or unreadable file, a syntax error, a duplicated key or a
            document that is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file: {err}") from None
    data = parse_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object; a missing file, a syntax error or a non-object is a ConfigError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: invalid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Load ``cls`` from a YAML file (or defaults when ``path`` is None), then apply overrides.

    Example:
        ``load_config(CorpusConfig, "conf/corpus.yaml", ["utts_per_lang.train=100"])``
    """
    data = read_yaml(path) if path is not None else {}
    overrides = list(overrides)
    if overrides:
        # Merge onto the defaults so an override may name a key the file leaves out.
        merged = to_dict(from_dict(cls, data, str(path or "")))
        data = apply_overrides(merged, overrides)
        return from_dict(cls, data, f"{path or 'defaults'} + --set")
    return from_dict(cls, data, str(path or ""))


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    text = yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)
    atomic_write_text(path, text)


class Registry(dict[str, Callable[..., Any]]):
    """Components chosen by name from a config (``encoder: conformer``).

    The registry is the one list of its names: a config field typed
    ``Annotated[str, REGISTRY]`` accepts exactly the registered names (checked by
    :func:`from_dict`), and a CLI option takes its names as
    :class:`speechml.cli.LazyChoices` (read when the option is checked).

    Example:
        >>> encoders = Registry("encoder")
        >>> @encoders.register("identity")
        ... def make_identity(): return lambda x: x
        >>> encoders.get_component("identity")()(3)
        3
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    # One registry is one list of names: compared and hashed by identity, so that it can sit in
    # an ``Annotated[str, REGISTRY] | None`` (typing hashes the metadata of a union's members).
    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = factory
            return factory

        return decorate

    def check_name(self, name: str, where: str = "") -> None:
        """Raise :class:`ConfigError` (prefixed by ``where``) unless ``name`` is registered."""
        if name not in self:
            prefix = f"{where}: " if where else ""
            raise ConfigError(
                f"{prefix}unknown {self.kind} {name!r} (choose one of: {', '.join(sorted(self))})"
            )

    def get_component(self, name: str) -> Callable[..., Any]:
        self.check_name(name)
        return self[name]
