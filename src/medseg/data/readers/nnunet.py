"""nnU-Net v2 raw dataset (``dataset.json``, ``imagesTr/``, ``labelsTr/``, ``imagesTs/``).

See :mod:`medseg.data.nnunet` for the layout, the import details and the export to this layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medseg.data.case import Case
from medseg.data.nnunet import read_nnunet_dataset
from medseg.data.readers import READERS


@READERS.register("nnunet")
def read_nnunet(root: Path, **options: Any) -> list[Case]:
    """Reads an nnU-Net v2 raw dataset; ``options`` as for :func:`medseg.data.nnunet.read_nnunet_dataset`
    (``subset``, ``limit``, ``empty_fraction``, ``stride``, ``label_map``, ``orientation``, ``seed``)."""
    return read_nnunet_dataset(root, **options)
