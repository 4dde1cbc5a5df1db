"""Inference: a model rebuilt from a run folder or an exported ONNX file, predicting 2D images and 3D
volumes in their own geometry.

Nothing here imports :mod:`medseg.training`: a server or an exported model needs none of the training code.
"""

from medseg.inference.predictor import Prediction, Predictor, load_predictor

__all__ = ["Prediction", "Predictor", "load_predictor"]
