"""params.yaml loading: values arrive with the types DVC wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosskd.config import get, load_params, parse_yaml
from crosskd.errors import ConfigError


def test_exponent_floats_without_a_dot_are_numbers(tmp_path: Path) -> None:
    # `dvc exp run -S student.lr=3e-3` writes `lr: 3e-3`; YAML 1.1 (PyYAML) reads a string.
    path = tmp_path / "params.yaml"
    path.write_text("student:\n  lr: 3e-3\n  wd: 5E-4\n  big: 1e+5\n  n: 10\n  name: '3e-3'\n"
                    "  tag: v1e3\n  ratio: 0.15\n")
    student = get(load_params(path), "student")
    assert student == {"lr": 0.003, "wd": 0.0005, "big": 100000.0, "n": 10, "name": "3e-3",
                       "tag": "v1e3", "ratio": 0.15}
    assert isinstance(student["n"], int) and isinstance(student["lr"], float)


def test_parse_yaml_stays_safe() -> None:
    with pytest.raises(Exception, match="could not determine a constructor"):
        parse_yaml("!!python/object/apply:os.system ['true']")


def test_bad_params_files_name_themselves(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yaml: parameter file is missing"):
        load_params(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_params(tmp_path / "bad.yaml")
