"""dvc.yaml's code deps match what each stage script really imports.

A stage reruns only when one of its deps changes, so a library module the script imports but
its deps leave out would let an edit leave a stale output in the cache. The check follows the
script's `crosskd` imports statically (ast), file by file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

SRC = REPO / "src"

# Modules that cannot change a stage's outputs: the CLI shell, error classes, atomic file
# writes, progress bars and MLflow tracking. Leaving them out keeps an edit to an error
# message from rerunning the whole pipeline.
INFRASTRUCTURE = {
    "src/crosskd/__init__.py",
    "src/crosskd/cli.py",
    "src/crosskd/errors.py",
    "src/crosskd/atomic.py",
    "src/crosskd/progress.py",
    "src/crosskd/tracking.py",
}


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """`crosskd` modules a file imports; `from a import b` may name module `a.b`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n == "crosskd" or n.startswith("crosskd.")}


def import_closure(script: Path) -> set[str]:
    """Every `crosskd` source file `script` loads, packages' __init__ files included."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path):
            parts = name.split(".")
            # importing a.b.c runs a/__init__.py and a/b/__init__.py first
            for i in range(1, len(parts) + 1):
                found = _module_file(".".join(parts[:i]))
                if found is not None:
                    todo.append(found)
    return {p.relative_to(REPO).as_posix() for p in seen if p != script}


def _inert(path: str) -> bool:
    """A file with nothing but a docstring (a bare package __init__) cannot change outputs."""
    body = ast.parse((REPO / path).read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if d.startswith(("src/", "pipeline/"))]


def _script(stage: dict) -> Path:
    return REPO / stage["cmd"].split()[1]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_its_imports(name: str) -> None:
    stage = STAGES[name]
    deps = _code_deps(stage)
    closure = import_closure(_script(stage))
    missing = sorted(f for f in closure - INFRASTRUCTURE
                     if not _covered(f, deps) and not _inert(f))
    assert not missing, f"dvc.yaml stage {name!r}: deps leave out imported code {missing}"
    assert stage["cmd"].split()[1] in deps, f"stage {name!r} does not depend on its own script"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_code_deps_are_all_imported(name: str) -> None:
    stage = STAGES[name]
    closure = import_closure(_script(stage)) | {stage["cmd"].split()[1]}
    unused = [d for d in _code_deps(stage)
              if not any(_covered(f, [d]) for f in closure)]
    assert not unused, f"dvc.yaml stage {name!r}: deps name code it never imports {unused}"


def test_closure_follows_from_imports_of_submodules(tmp_path: Path) -> None:
    # `from crosskd.training import paths` must reach training/paths.py, not only
    # training/__init__.py: the report stage depends on paths that way.
    script = tmp_path / "stage.py"
    script.write_text("from crosskd.training import paths\n")
    closure = import_closure(script)
    assert "src/crosskd/training/paths.py" in closure
    assert "src/crosskd/training/__init__.py" in closure
    assert "src/crosskd/training/loop.py" not in closure


def test_every_curve_plot_draws_a_curve_column_against_epoch() -> None:
    """Without x/y, `dvc plots show` draws a CSV's last column (seconds per epoch) against
    the row number: a curve that looks like one and says nothing."""
    from crosskd.training.loop import CURVE_COLUMNS

    curves = [(name, path, props) for name, stage in STAGES.items()
              for entry in stage.get("plots", []) for path, props in entry.items()
              if "/confusion/" not in path]
    assert len(curves) == 4  # train_teacher, train_student, distill, distill_progressive
    for name, path, props in curves:
        assert props.get("x") == "epoch" and props.get("y") in CURVE_COLUMNS, (name, path)


def test_report_stage_tracks_the_params_its_table_names() -> None:
    # The table's header names the student architecture: a new one must re-run the report.
    assert {"data.dataset", "train.seeds", "train.protocol", "student.model",
            "distill.pretrained", "distill.progressive"} <= set(STAGES["report"]["params"])
