"""The tests' own clean-up: a module's large temporary project goes when the module passes."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = '''
import pytest
from tests.conftest import module_dir

@pytest.fixture(scope="module")
def project(request, tmp_path_factory):
    root = module_dir(request, tmp_path_factory, "proj")
    (root / "big.bin").write_bytes(b"x" * 1000)
    return root

def test_uses_it(project):
    assert (project / "big.bin").stat().st_size == {size}
'''


@pytest.mark.parametrize(("size", "kept"), [(1000, False), (999, True)])
def test_module_dir_removed_on_pass_kept_on_failure(pytester: pytest.Pytester, size: int,
                                                    kept: bool) -> None:
    pytester.makepyfile(test_inner=INNER.format(size=size))
    base = pytester.path / "base"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--basetemp={base}")
    result.assert_outcomes(passed=int(not kept), failed=int(kept))
    assert (base / "proj0" / "big.bin").exists() == kept
