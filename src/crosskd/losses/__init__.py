"""Distillation losses: one registry, one module per method, one signature.

Importing this package registers every method; build one by name with :func:`build_loss`.
See :mod:`crosskd.losses.base` for the interface. A training loop::

    loss_fn = build_loss(p["method"], p["weights"], p.get("options"),
                         student=FeatureDims.of_model(student),
                         teachers=[FeatureDims.of_model(t) for t in teachers]).to(device)
    opt = torch.optim.SGD([*student.parameters(), *loss_fn.parameters()], lr=...)
    terms = loss_fn(student(x_acc), [t(x_t) for t, x_t in zip(teachers, xs)], y)
    terms["total"].backward()   # log every other key of ``terms``
"""

from crosskd.losses import (  # noqa: F401  (import registers the methods)
    acs,
    at,
    cc,
    ce,
    dask,
    fitnet,
    kd,
    logits,
    rkd,
    sp,
)
from crosskd.losses.base import DistillLoss, FeatureDims, detach_output
from crosskd.losses.registry import build_loss, loss_class, loss_names, register_loss

__all__ = [
    "DistillLoss",
    "FeatureDims",
    "build_loss",
    "detach_output",
    "loss_class",
    "loss_names",
    "register_loss",
]
