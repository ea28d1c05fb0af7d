"""The project's only ``import torchvision``: go through :func:`import_torchvision`.

Why: torchvision 0.28.0's wheel is CUDA-linked. On the CPU-only torch build its C
extension (``torchvision/_C.so``) fails to load, which torchvision tolerates, but
``torchvision/_meta_registrations.py`` then registers fake kernels for ``torchvision::nms``
and ``torchvision::qnms``, two ops whose schemas only the extension declares, and the import
dies with "operator torchvision::nms does not exist". Declaring those two schemas, exactly as
the extension's ``TORCH_LIBRARY_FRAGMENT(torchvision, m)`` does (checked against the schema
strings in the installed ``_C.so`` and the ``meta_nms``/``meta_qnms`` signatures), lets the
import finish. Models and transforms then work; the C++ ops (nms, roi_align, image
decoding) do not, so the project reads images with cv2/PIL and never calls
``torchvision.ops``.

On installs where the extension loads (matching CUDA or CPU wheels) the plain import
succeeds and nothing is declared. Keeping this in one cached function means every caller
gets the same module and the workaround is applied at most once per process.
"""

from __future__ import annotations

import functools
import importlib
import sys
from types import ModuleType

import torch

# The schemas torchvision's C++ extension defines (TORCH_LIBRARY_FRAGMENT(torchvision, m)).
_OP_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

# A torch.library.Library deregisters its definitions when garbage-collected: keep it alive.
_LIB: torch.library.Library | None = None


def _has_schema(qualname: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(qualname, "")
    except RuntimeError:
        return False
    return True


def _declare_missing_op_schemas() -> None:
    global _LIB
    for name, schema in _OP_SCHEMAS.items():
        if _has_schema(f"torchvision::{name}"):
            continue
        if _LIB is None:
            _LIB = torch.library.Library("torchvision", "FRAGMENT")
        _LIB.define(schema)


def _extension_failed() -> bool:
    """True if the failed import got as far as finding that ``_C`` could not load."""
    ext = sys.modules.get("torchvision.extension")
    return ext is not None and not ext._has_ops()


def _forget_torchvision() -> None:
    # A failed package import leaves its already-imported submodules in sys.modules.
    for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[mod]


@functools.cache
def import_torchvision() -> ModuleType:
    """Import and return ``torchvision``, working around a C extension that cannot load."""
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as err:
        if "torchvision::" not in str(err) or not _extension_failed():
            raise
    _forget_torchvision()
    _declare_missing_op_schemas()
    return importlib.import_module("torchvision")
