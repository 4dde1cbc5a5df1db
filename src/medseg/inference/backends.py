"""Choosing how to run a model: PyTorch from a run directory, or ONNX Runtime from an export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medseg.config_rules import INFER_PRECISIONS
from medseg.errors import ConfigError, ExportError
from medseg.inference.export import find_export
from medseg.inference.onnx_backend import load_onnx_predictor
from medseg.inference.predictor import Predictor, load_predictor
from medseg.inference.zoo import load_zoo_predictor, zoo_folder
from medseg.logs import log
from medseg.run_folder import RunFolder

BACKENDS = ("auto", "onnx", "torch")


def open_predictor(
    source: str | Path,
    backend: str = "auto",
    checkpoint: str = "best",
    tta: bool = False,
    threads: int | None = None,
    sliding_window: bool | None = None,
    batch_size: int | None = None,
    precision: str | None = None,
    scales: Sequence[float] = (1.0,),
) -> Predictor:
    """A predictor for ``source``: a run directory, a cross-validation directory, an exported ``.onnx``,
    or the name of a model of the zoo (:mod:`medseg.inference.zoo`; ``medseg models`` lists them).

    Args:
        backend: ``"onnx"`` (ONNX Runtime on the CPU), ``"torch"`` (PyTorch, CUDA when available) or
            ``"auto"``: ONNX Runtime for an ``.onnx`` file, or when ``RUN_DIR/model.onnx`` was exported
            from the same checkpoint file; PyTorch otherwise.
        threads: CPU threads: ONNX Runtime's intra-op threads, or PyTorch's (``torch.set_num_threads``, for
            the whole process); None: the library's default (all cores).
        precision: ``"float32"`` or ``"bfloat16"`` (PyTorch autocast; None: the model's
            ``infer.precision``). ``bfloat16`` runs on PyTorch: ``auto`` then skips an ONNX export.
        scales: multi-scale inference (:class:`Predictor`); other than ``(1.0,)`` it runs on PyTorch,
            as ``bfloat16`` does (an export may have a fixed input size).

    Raises:
        ConfigError: unknown backend or precision, ``torch`` asked of an ``.onnx`` file, or ``bfloat16``
            or multi-scale asked of ONNX Runtime.
        ExportError: ``onnx`` asked of a run directory without an up-to-date export.
        RunDirError: not a run directory.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; use {', '.join(BACKENDS)}")
    if precision is not None and precision not in INFER_PRECISIONS:
        raise ConfigError(f"precision {precision!r}: use one of {', '.join(INFER_PRECISIONS)}")
    low = precision == "bfloat16"  # auto falls back to float32 where it cannot run
    multi_scale = tuple(scales) != (1.0,)  # the Predictor checks and converts the values
    if (low or multi_scale) and (backend == "onnx" or Path(source).suffix == ".onnx"):
        what = precision if low else f"multi-scale inference (scales {','.join(f'{s:g}' for s in scales)})"
        raise ConfigError(f"{source}: {what} runs on PyTorch; give a run directory or zoo model with --backend torch")
    if low or multi_scale:
        backend = "torch"
    options = {"tta": tta, "sliding_window": sliding_window, "batch_size": batch_size}
    torch_options = {**options, "precision": precision, "scales": tuple(scales)}
    zoo = zoo_folder(str(source)) if not Path(source).exists() else None
    if zoo is not None:
        if backend == "onnx":
            raise ConfigError(
                f"{source}: the zoo's models run on PyTorch; use --backend torch or auto, or export one "
                f"(medseg export {source} --out FILE.onnx) and predict with FILE.onnx"
            )
        _torch_threads(threads)
        return _cascade(load_zoo_predictor(zoo, **torch_options), zoo, backend, tta, threads, batch_size, precision)
    source = Path(source)
    if source.suffix == ".onnx":
        if backend == "torch":
            raise ConfigError(
                f"{source}: an ONNX model runs on ONNX Runtime; give the run directory for --backend torch"
            )
        return load_onnx_predictor(source, threads, **options)
    exported = find_export(source, checkpoint) if backend != "torch" else None
    if backend == "onnx" and exported is None:
        raise ExportError(
            f"{source}: no up-to-date {RunFolder(source).onnx} for checkpoint {checkpoint!r}; "
            f"run: medseg export {source}{'' if checkpoint == 'best' else ' --checkpoint ' + checkpoint}"
        )
    if exported is not None:
        log(f"using the ONNX Runtime export {exported}")
        predictor = load_onnx_predictor(exported, threads, **options)
    else:
        _torch_threads(threads)
        predictor = load_predictor(source, checkpoint, **torch_options)
    return _cascade(predictor, source, backend, tta, threads, batch_size, precision)


def _cascade(
    predictor: Predictor,
    source: Path,
    backend: str,
    tta: bool,
    threads: int | None,
    batch_size: int | None,
    precision: str | None,
) -> Predictor:
    """``predictor`` itself, or with its config's ``infer.stage1`` both stages as one
    :class:`medseg.inference.cascade.CascadePredictor`."""
    stage1 = predictor.config.infer.stage1
    if not stage1:
        return predictor
    from medseg.inference.cascade import CascadePredictor, stage1_path

    first = open_predictor(
        stage1_path(Path(source), stage1), backend, "best", tta, threads, None, batch_size, precision
    )
    log(f"cascade: stage 1 {stage1}, stage 2 {source}")
    return CascadePredictor(first, predictor)  # type: ignore[return-value]


def _torch_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
