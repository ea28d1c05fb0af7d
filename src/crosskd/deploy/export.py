"""Export a student to ONNX (fp32 and static int8) and measure what deployment costs.

The ONNX graph has one input ``"window"`` ``(batch, C, L)`` in raw sensor units (the
model standardises inside, see :class:`crosskd.models.temporal_cnn.TemporalCNN`) and one
output ``"logits"`` ``(batch, K)``; the batch axis is dynamic. Probabilities are computed
*outside* the graph (a numpy softmax in :mod:`crosskd.deploy.predict`): a quantised
Softmax would round the probabilities, and raw logits are what the fp32-vs-PyTorch check
compares.

Deployment facts travel inside the file as ONNX ``metadata_props`` (string values; lists
as JSON): ``classes``, ``rate`` [Hz], ``window`` [steps], ``hop`` [steps], ``channels``,
``units``; the predict CLI reads them, so a file is self-describing.

Tolerances (the deploy stage and tests use these):

- :data:`FP32_LOGIT_ATOL`: fp32 ONNX logits equal PyTorch's up to float32 rounding of a
  re-ordered graph (BN folded into the convolutions): 1e-4 absolute.
- :data:`INT8_ACCURACY_TOLERANCE`: int8 accuracy may be lower than PyTorch's by at most
  this (absolute) fraction. 8-bit activations flip windows whose top-2 logit margin is
  smaller than the quantisation noise; on the test split that is a few percent at worst
  for a calibrated model.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import Tensor, nn

from crosskd.atomic import atomic_path
from crosskd.deploy.predict import INPUT_NAME, OUTPUT_NAME, onnx_logits, open_session
from crosskd.errors import ExportError

FP32_LOGIT_ATOL = 1e-4
INT8_ACCURACY_TOLERANCE = 0.03


class _LogitsOnly(nn.Module):
    """The exported function: window -> logits (ModelOutput is not an ONNX output type)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, window: Tensor) -> Tensor:
        out = self.model(window)
        return out.logits if hasattr(out, "logits") else out


def _metadata_strings(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else json.dumps(v)
            for k, v in (metadata or {}).items()}


def _set_metadata(model_proto: onnx.ModelProto, metadata: Mapping[str, str]) -> None:
    existing = {p.key: p for p in model_proto.metadata_props}
    for key, value in metadata.items():
        if key in existing:
            existing[key].value = value
        else:
            model_proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))


def export_onnx(model: nn.Module, example: Tensor, path: str | Path, *,
                metadata: Mapping[str, Any] | None = None) -> Path:
    """Export ``model`` (eval mode) with the torch.export-based exporter to ``path``.

    ``example``: one input ``(1, C, L)`` (a raw window) or ``(1, C, H, W)`` (a GAF image);
    every axis but the batch is fixed in the graph.
    ``metadata``: stored as ONNX metadata_props (non-strings as JSON). The model's
    train/eval mode is restored afterwards; the file is written atomically and checked.
    """
    if example.dim() not in (3, 4):
        raise ValueError(f"example must be one window (1, C, L) or image (1, C, H, W), got "
                         f"{tuple(example.shape)}")
    wrapper = _LogitsOnly(copy.deepcopy(model)).eval()
    # torch.export specialises dimensions of size 1: trace with batch 2 so batch stays dynamic.
    traced_input = torch.cat([example[:1].detach().float()] * 2)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():  # torch-internal pytree deprecation noise
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        program = torch.onnx.export(
            wrapper, (traced_input,), dynamo=True, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},), verbose=False,
        )
    proto = program.model_proto
    _set_metadata(proto, _metadata_strings(metadata))
    onnx.checker.check_model(proto)
    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


class _WindowReader(CalibrationDataReader):
    """Calibration data for quantize_static: the windows in batches, once."""

    def __init__(self, windows: np.ndarray, batch_size: int) -> None:
        self.windows = windows
        self.batch_size = batch_size
        self.pos = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.pos >= len(self.windows):
            return None
        batch = self.windows[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return {INPUT_NAME: batch}

    def rewind(self) -> None:
        self.pos = 0


def stem_nodes(model: onnx.ModelProto, path: str | Path = "model") -> list[str]:
    """Names of the nodes with no MaxPool upstream of them, the MaxPools that end them
    included: the input standardisation and the first block of either student (of every
    member, in a seed ensemble's graph). ONNX lists nodes in topological order."""
    names, after_pool, pools = [], set(), 0
    for node in model.graph.node:
        if any(i in after_pool for i in node.input):
            after_pool.update(node.output)
            continue
        names.append(node.name)
        if node.op_type == "MaxPool":
            pools += 1
            after_pool.update(node.output)
    if not pools:
        raise ExportError(f"{path}: no MaxPool ends a first block, so there is no stem to keep "
                          "in float (deploy.int8_float_stem)")
    return names


def quantize_int8(fp32_path: str | Path, int8_path: str | Path, calibration: np.ndarray, *,
                  batch_size: int = 64, per_channel: bool = True,
                  method: str = "minmax", float_stem: bool = False) -> Path:
    """Static int8 quantisation (QDQ; int8 weights per output channel, uint8 activations).

    Activation ranges are calibrated on ``calibration`` ``(N, C, L)`` raw *training*
    windows (never test windows). ``method``: minmax | percentile | entropy. uint8
    activations with int8 weights (U8S8) is onnxruntime's fast x86 CPU path.
    ``float_stem`` keeps the stem (:func:`stem_nodes`) in float, the usual mixed-precision
    fix for a model whose first layers do not survive int8 (the residual temporal CNN,
    BENCHMARKS.md). The fp32 file's metadata_props are carried over, plus ``quantization``.
    """
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise ValueError(f"quantize_int8: method must be one of {sorted(methods)}, got "
                         f"{method!r}")
    windows = np.ascontiguousarray(calibration, dtype=np.float32)
    session = open_session(fp32_path)
    shape = session.get_inputs()[0].shape
    if windows.ndim != len(shape) or len(windows) == 0 or any(
        isinstance(d, int) and d != w for d, w in zip(shape[1:], windows.shape[1:], strict=True)
    ):
        raise ValueError(f"quantize_int8: calibration windows must be (N >= 1, "
                         f"{', '.join(map(str, shape[1:]))}), got {windows.shape}")
    reader = _WindowReader(windows, batch_size)
    fp32_proto = onnx.load(str(fp32_path))
    metadata = {p.key: p.value for p in fp32_proto.metadata_props}
    metadata["quantization"] = json.dumps(
        {"format": "QDQ", "weights": "int8", "activations": "uint8",
         "per_channel": per_channel, "calibration": method, "calibration_windows": len(windows),
         "float_stem": float_stem})
    int8_path = Path(int8_path)
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(int8_path) as tmp:
        pre, raw = Path(tmpdir) / "pre.onnx", Path(tmpdir) / "int8.onnx"
        # onnxruntime's recommended pre-pass (shape inference + graph optimisation).
        quant_pre_process(str(fp32_path), str(pre))
        exclude = stem_nodes(onnx.load(str(pre)), fp32_path) if float_stem else []
        quantize_static(
            str(pre), str(raw), reader, quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            per_channel=per_channel, calibrate_method=methods[method],
            nodes_to_exclude=exclude,
        )
        proto = onnx.load(str(raw))
        _set_metadata(proto, metadata)
        onnx.save(proto, str(tmp))
    return int8_path


def profile(path: str | Path, windows: np.ndarray, threads: int = 1, runs: int = 200,
            warmup: int = 20) -> dict[str, Any]:
    """Single-window CPU latency of an ONNX file with onnxruntime, and its size.

    One window per call (streaming inference), ``threads`` intra-op threads, ``warmup``
    untimed calls, then ``runs`` timed calls cycling through ``windows`` ``(N, C, L)``
    (or GAF images ``(N, C, H, W)``).
    Median and 90th percentile in milliseconds (the median resists scheduler noise).
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"profile: need runs >= 1 and warmup >= 0, got {runs}, {warmup}")
    windows = np.ascontiguousarray(windows, dtype=np.float32)
    if windows.ndim < 3 or len(windows) == 0:
        raise ValueError(f"profile: inputs must be (N >= 1, C, L) or (N >= 1, C, H, W), got "
                         f"{windows.shape}")
    session = open_session(path, threads=threads)
    singles = [windows[i : i + 1] for i in range(min(len(windows), runs))]
    for i in range(warmup):
        session.run(None, {INPUT_NAME: singles[i % len(singles)]})
    times = np.empty(runs)
    for i in range(runs):
        feed = {INPUT_NAME: singles[i % len(singles)]}
        t0 = time.perf_counter()
        session.run(None, feed)
        times[i] = time.perf_counter() - t0
    return {
        "file": str(path),
        "bytes": os.path.getsize(path),
        "threads": threads,
        "runs": runs,
        "latency_ms_median": float(np.median(times) * 1e3),
        "latency_ms_p90": float(np.percentile(times, 90) * 1e3),
    }


def evaluate_onnx(path: str | Path, windows: np.ndarray, labels: np.ndarray,
                  batch_size: int = 256) -> dict[str, Any]:
    """Accuracy of an ONNX file on ``windows`` ``(N, C, L)`` with integer ``labels``.

    Returns ``accuracy``, ``n``, ``predictions`` (a list) and ``logits`` ``(N, K)``, so the
    caller can compare them with PyTorch's (within :data:`FP32_LOGIT_ATOL` /
    :data:`INT8_ACCURACY_TOLERANCE`) without running the file again.
    """
    logits = onnx_logits(open_session(path), windows, batch_size=batch_size)
    pred = logits.argmax(axis=1)
    labels = np.asarray(labels)
    if len(labels) != len(pred):
        raise ValueError(f"evaluate_onnx: {len(pred)} windows but {len(labels)} labels")
    return {"accuracy": float((pred == labels).mean()) if len(pred) else float("nan"),
            "n": len(pred), "predictions": pred.tolist(), "logits": logits}


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (buffers such as BN statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, example: Tensor) -> int:
    """Multiply-accumulates of one window, counted by forward hooks on Conv1d/2d and Linear.

    Conv: output elements x (C_in / groups) x kernel size; Linear: in x out per row. Other
    layers (BN, ReLU, pooling, the input standardisation) are a few percent and left out.
    The count is per window: divided by the example's batch size.
    """
    total = 0

    def conv_hook(m: nn.Module, _inp: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        k = int(np.prod(m.kernel_size))
        total += out.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m: nn.Module, _inp: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total // max(int(example.shape[0]), 1)
