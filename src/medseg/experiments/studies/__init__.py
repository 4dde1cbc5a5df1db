"""The papers' experiments, one module each; importing this package registers them all.

A new study is one module here (decorated with :func:`medseg.experiments.reproduce.register_study`)
plus one import line below.
"""

from __future__ import annotations

from medseg.errors import ConfigError
from medseg.experiments.reproduce import STUDIES, Study
from medseg.experiments.studies import (
    bone,  # noqa: F401
    lung,  # noqa: F401
    polyp,  # noqa: F401
    recipe,  # noqa: F401
)


def list_studies() -> list[Study]:
    """Every registered study, by name."""
    return [STUDIES[name] for name in sorted(STUDIES)]


def get_study(name: str) -> Study:
    """The study called ``name``.

    Raises:
        ConfigError: no such study; the message lists the known ones.
    """
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; known: {', '.join(sorted(STUDIES)) or 'none'}")
    return STUDIES[name]
