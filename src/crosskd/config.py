"""params.yaml access: the only source of configuration, with errors that name the key."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from crosskd.errors import ConfigError

_MISSING = object()


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading floats as YAML 1.2 does (as DVC's ruamel.yaml writes them).

    PyYAML follows YAML 1.1, where ``3e-3`` (no dot) is the *string* "3e-3"; `dvc exp run -S
    student.lr=3e-3` writes exactly that, and a learning rate would arrive as text.
    """


ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """YAML text as params.yaml is read (floats as in YAML 1.2)."""
    return yaml.load(text, Loader=ParamsLoader)  # noqa: S506  (a SafeLoader subclass)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_profile(params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``profiles.<profile>`` (sizes, epochs) over the top-level sections."""
    if "profile" not in params:
        return params
    profiles = params.get("profiles") or {}
    name = params["profile"]
    if name not in profiles:
        raise ConfigError(f"params.yaml: unknown profile {name!r}; known: {sorted(profiles)}")
    return deep_merge(params, profiles[name])


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """params.yaml with the selected profile applied."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file is missing")
    try:
        params = parse_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return apply_profile(params)


def get(params: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    """``get(p, "fuse.skeleton_frames")``; a missing key without default is a ConfigError."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _MISSING:
                raise ConfigError(f"params.yaml: missing parameter {key!r}")
            return default
        node = node[part]
    return node


def choice(params: dict[str, Any], key: str, options: list[str] | tuple[str, ...]) -> str:
    value = get(params, key)
    if value not in options:
        raise ConfigError(f"params.yaml: {key} = {value!r} is not one of {list(options)}")
    return value


def boolean(params: dict[str, Any], key: str, default: Any = _MISSING) -> bool:
    value = get(params, key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"params.yaml: {key} must be true or false, got {value!r}")
    return value


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool, which Python counts as an int)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def number(params: dict[str, Any], key: str, default: Any = _MISSING, *,
           low: float | None = None, high: float | None = None) -> float:
    """A finite number (int or float) in ``[low, high]``; else a ConfigError naming ``key``."""
    value = get(params, key, default)
    if not is_number(value):
        raise ConfigError(f"params.yaml: {key} must be a number, got {value!r}")
    if low is not None and high is not None and not low <= value <= high:
        raise ConfigError(f"params.yaml: {key} must be in [{low}, {high}], got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"params.yaml: {key} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"params.yaml: {key} must be <= {high}, got {value!r}")
    return float(value)


def positive_int(params: dict[str, Any], key: str, low: int = 1) -> int:
    """An integer >= ``low`` (default 1); else a ConfigError naming ``key``."""
    value = get(params, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ConfigError(f"params.yaml: {key} must be {what}, got {value!r}")
    return value
