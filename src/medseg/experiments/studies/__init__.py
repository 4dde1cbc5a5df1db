"""The papers' experiments, one module each; importing this package registers them all.

A new study is one module here (decorated with :func:`medseg.experiments.reproduce.register_study`)
plus one import line below.
"""

from medseg.experiments.studies import (
    bone,  # noqa: F401
    lung,  # noqa: F401
    polyp,  # noqa: F401
)
