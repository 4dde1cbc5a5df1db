"""The package version (one place; ``medseg.__version__`` re-exports it)."""

__version__ = "0.1.0"
