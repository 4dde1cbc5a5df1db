"""medseg: medical image segmentation with the U-Net family."""

__version__ = "0.1.0"
