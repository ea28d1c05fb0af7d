"""Deployment of the student (issue #6): ONNX export, int8 quantisation, profiling, predict.

- :mod:`crosskd.deploy.export` (needs torch): ``export_onnx``, ``quantize_int8``,
  ``profile``, ``count_macs``, ``evaluate_onnx``.
- :mod:`crosskd.deploy.predict` (numpy + onnxruntime + stdlib only): the ``predict`` CLI
  that runs an exported file on a raw accelerometer CSV.

This package file imports nothing on purpose: ``python -m crosskd.deploy.predict`` must
work on a device where torch is not installed.
"""
