"""Project exceptions: every message names the file (or parameter) and the problem."""

from __future__ import annotations

from pathlib import Path


class CrossKDError(Exception):
    """Base class for errors the pipeline reports to the user."""


class DataError(CrossKDError):
    """A data file is missing, unreadable or holds values the pipeline cannot use."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class ConfigError(CrossKDError):
    """A parameter in params.yaml is unknown, missing or out of range."""


class DownloadError(CrossKDError):
    """A download failed (network, HTTP status, checksum)."""


class ChecksumError(DataError):
    """A file's sha256 differs from the expected digest."""


class ExportError(CrossKDError):
    """An exported model does not reproduce the PyTorch model within the stated tolerance."""
