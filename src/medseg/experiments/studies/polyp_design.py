"""What the polyp study runs: its models, its splits, and the paper's figures it is compared with."""

from __future__ import annotations

from dataclasses import dataclass

TEST = "test"  # each run's held-out scores: RUN/test/ (metrics.json, per_case.csv, inference.json)
MODELS = ("mobile_unet", "unet", "res_unet", "unet_plus_plus")
MODEL_TITLES = {
    "mobile_unet": "Improved Attention MobileU-Net",
    "unet": "U-Net",
    "res_unet": "ResU-Net",
    "unet_plus_plus": "U-Net++",
}


@dataclass(frozen=True)
class SplitSpec:
    """One dataset and how it is split into train / validation / test."""

    name: str
    title: str
    folder: str  # inside --data
    layout: str
    val_fraction: float
    test_fraction: float
    by_frame: bool = False  # ignore the video sequences (the paper's split: leaky)
    start_from: str = ""  # a split whose run of the same model gives this one its initial weights
    train_also: str = ""  # a split whose training images are added to this one's training images


SPLITS = (
    SplitSpec("kvasir", "Kvasir-SEG, held-out images (80/10/10, seed 0)", "kvasir-seg", "kvasir", 0.1, 0.1),
    SplitSpec("cvc", "CVC-ClinicDB, held-out video sequences", "cvc-clinicdb", "cvc_clinicdb", 0.12, 0.2),
    SplitSpec(
        "kvasir_with_cvc",
        "Kvasir-SEG, held-out images, trained on Kvasir-SEG and CVC-ClinicDB training images (cross-dataset)",
        "kvasir-seg",
        "kvasir",
        0.1,
        0.1,
        train_also="cvc",
    ),
    SplitSpec(
        "cvc_from_kvasir",
        "CVC-ClinicDB, held-out video sequences, training started from the Kvasir-SEG model (cross-dataset)",
        "cvc-clinicdb",
        "cvc_clinicdb",
        0.12,
        0.2,
        start_from="kvasir",
    ),
    SplitSpec(
        "cvc_with_kvasir",
        "CVC-ClinicDB, held-out video sequences, trained on CVC and Kvasir-SEG training images from the "
        "Kvasir-SEG model (cross-dataset)",
        "cvc-clinicdb",
        "cvc_clinicdb",
        0.12,
        0.2,
        start_from="kvasir",
        train_also="kvasir",
    ),
    SplitSpec(
        "cvc_random_frames",
        "CVC-ClinicDB, random frames (LEAKY: frames of one polyp on both sides, as in the paper)",
        "cvc-clinicdb",
        "cvc_clinicdb",
        0.1,
        0.1,
        by_frame=True,
    ),
)

# The paper's figures (percent) for the models this table has: F1 and IoU on its own splits.
_PAPER_KVASIR = {"parameters": 574_579, "f1": 86.59, "iou": 78.87}
PAPER = {
    ("mobile_unet", "kvasir"): _PAPER_KVASIR,
    # the same 80 held-out Kvasir-SEG images, with CVC-ClinicDB frames added to the training images
    ("mobile_unet", "kvasir_with_cvc"): _PAPER_KVASIR,
    ("mobile_unet", "cvc_random_frames"): {"parameters": 574_579, "f1": 92.36, "iou": 86.50},
}
