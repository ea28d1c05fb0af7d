"""params.yaml: values arrive with the types DVC wrote; wrong types name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosskd.config import get, load_params, number, parse_yaml
from crosskd.errors import ConfigError
from crosskd.training.builders import optim_config


def test_exponent_floats_without_a_dot_are_numbers(tmp_path: Path) -> None:
    # `dvc exp run -S student.lr=3e-3` writes `lr: 3e-3`; YAML 1.1 (PyYAML) reads a string.
    path = tmp_path / "params.yaml"
    path.write_text("student:\n  lr: 3e-3\n  wd: 5E-4\n  big: 1e+5\n  n: 10\n  name: '3e-3'\n"
                    "  tag: v1e3\n  ratio: 0.15\n  neg: -.5\n")
    student = get(load_params(path), "student")
    assert student == {"lr": 0.003, "wd": 0.0005, "big": 100000.0, "n": 10, "name": "3e-3",
                       "tag": "v1e3", "ratio": 0.15, "neg": -0.5}
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


def test_numbers_are_checked_and_named() -> None:
    params = {"a": {"x": 0.5, "n": 3, "s": "abc", "b": True, "nan": float("nan")}}
    assert number(params, "a.x", low=0, high=1) == 0.5
    assert number(params, "a.n") == 3.0 and number(params, "a.missing", 2) == 2.0
    for key in ("a.s", "a.b", "a.nan"):
        with pytest.raises(ConfigError, match=rf"params.yaml: {key} must be a number"):
            number(params, key)
    with pytest.raises(ConfigError, match=r"a\.x must be in \[0, 0\.25\], got 0\.5"):
        number(params, "a.x", low=0, high=0.25)
    with pytest.raises(ConfigError, match=r"a\.x must be >= 1, got 0\.5"):
        number(params, "a.x", low=1)
    with pytest.raises(ConfigError, match=r"a\.n must be <= 2, got 3"):
        number(params, "a.n", high=2)


@pytest.mark.parametrize(("optim", "message"), [
    ({"lr": "abc"}, r"teacher\.optim\.lr must be a number, got 'abc'"),
    ({"step_size": 0}, r"teacher\.optim\.step_size must be a positive integer"),
    ({"name": 3}, r"teacher\.optim\.name must be a string, got 3"),
    ({"lr": 0.1, "betas": [0.9]}, r"teacher\.optim: .*unexpected keyword argument 'betas'"),
])
def test_optimiser_settings_of_the_wrong_type_name_their_key(optim: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        optim_config({"teacher": {"optim": optim}}, "teacher")
    assert optim_config({"teacher": {"optim": {"lr": 3e-3}}}, "teacher").lr == 0.003
