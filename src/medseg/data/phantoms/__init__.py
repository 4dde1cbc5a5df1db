"""Synthetic phantoms per modality, written in the native layouts the readers read.

- :mod:`.ct`: abdominal CT in Hounsfield units with a liver and tumours (LiTS NIfTI, MSD, DICOM
  series, 3D-IRCADb zips).
- :mod:`.lung`: lung CT slices with nodules (pylidc export layout).
- :mod:`.endoscopy`: colonoscopy frames with polyps (Kvasir-SEG and CVC-ClinicDB layouts).
- :mod:`.bone_scan`: whole-body bone scans, anterior and posterior, with hotspots.
- :mod:`.fetal_head`: fetal head ultrasound with an elliptical skull of known circumference (HC18).
"""

from __future__ import annotations

from medseg.data.phantoms.bone_scan import write_bone_scan_dataset
from medseg.data.phantoms.ct import (
    liver_phantom,
    write_dicom_series,
    write_ircadb_patient,
    write_lits_dataset,
    write_msd_dataset,
)
from medseg.data.phantoms.endoscopy import write_cvc_dataset, write_kvasir_dataset
from medseg.data.phantoms.fetal_head import fetal_head_image, write_fetal_head_dataset
from medseg.data.phantoms.lung import write_lidc_export

__all__ = [
    "fetal_head_image",
    "liver_phantom",
    "write_bone_scan_dataset",
    "write_cvc_dataset",
    "write_dicom_series",
    "write_fetal_head_dataset",
    "write_ircadb_patient",
    "write_kvasir_dataset",
    "write_lidc_export",
    "write_lits_dataset",
    "write_msd_dataset",
]
