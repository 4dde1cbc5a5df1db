"""Errors raised at medseg's boundaries (files, configs, uploads)."""

from __future__ import annotations

from pathlib import Path


class MedsegError(Exception):
    """Base class: an error a user can fix; the CLI prints it without a traceback."""


class DataError(MedsegError):
    """A data file or folder is missing, unreadable or inconsistent."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ConfigError(MedsegError):
    """A configuration file or override is invalid."""


class RunDirError(MedsegError):
    """A run directory is missing, incomplete or would be overwritten."""


class OptionError(ConfigError, ValueError):
    """An option (e.g. of a reader) has a value outside what the function accepts; also a ``ValueError``."""


class ExportError(MedsegError):
    """A model cannot be exported, or an exported model (ONNX + settings) is missing or invalid."""
