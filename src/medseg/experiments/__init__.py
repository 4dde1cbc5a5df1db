"""Experiments: run folders and the orchestration of training, evaluation, cross-validation and search."""
