"""Data-parallel training across processes (``torchrun``) with ``torch.distributed``.

``torchrun --nproc_per_node N -m medseg train ...`` starts N processes whose environment holds
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`distributed_session` turns that into a process
group (NCCL on CUDA, one GPU per process; Gloo on CPU). Without those variables, or with
``WORLD_SIZE=1``, everything here is a no-op and training is the plain single-process loop.

``train.batch_size`` is the GLOBAL batch: each process takes ``batch_size / N`` images per step
and DistributedDataParallel averages the gradients, so one optimiser step sees the same images
as one step of a single-process run. The data order is that run's too: :class:`GlobalBatchShard`
gives every process its share of each global batch drawn by the single-process sampler (seeded
identically on all ranks), so with the same seed, config and global batch a DDP run follows the
single-process run step by step (up to floating-point summation order). Only rank 0 writes
files; the others wait at barriers.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from medseg.device import resolve_device
from medseg.errors import ConfigError
from medseg.logs import log


@dataclass(frozen=True)
class DistContext:
    """This process's place in the process group (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_context() -> DistContext:
    """The context ``torchrun`` describes in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (single process if unset)."""
    try:
        return DistContext(
            rank=int(os.environ.get("RANK", "0")),
            world_size=int(os.environ.get("WORLD_SIZE", "1")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        )
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def context() -> DistContext:
    """The current process group's context, or the single-process one."""
    if not is_initialized():
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), env_context().local_rank)


def is_main_process() -> bool:
    """True on rank 0 (of a process group, or of the ``torchrun`` environment), and when not distributed."""
    return context().is_main if is_initialized() else env_context().is_main


def log_main(message: str) -> None:
    """Logs ``message`` on rank 0 only (every process logs when not distributed)."""
    if is_main_process():
        log(message)


@contextmanager
def distributed_session(use_cuda: bool, timeout_minutes: float = 60.0) -> Iterator[DistContext]:
    """Joins the process group described by the environment for the duration of the block.

    Does nothing for a single process, or when a process group already exists (the caller owns it).

    Args:
        use_cuda: NCCL with one GPU per process (``cuda:LOCAL_RANK``); otherwise Gloo on CPU.
        timeout_minutes: how long a collective waits for the slowest rank (e.g. rank 0 writing a
            checkpoint) before failing.
    """
    env = env_context()
    if env.world_size <= 1 or is_initialized():
        yield context()
        return
    if use_cuda:
        torch.cuda.set_device(env.local_rank)
    dist.init_process_group(
        "nccl" if use_cuda else "gloo",
        rank=env.rank,
        world_size=env.world_size,
        timeout=datetime.timedelta(minutes=timeout_minutes),
    )
    try:
        yield context()
    finally:
        dist.destroy_process_group()


@contextmanager
def training_session(device: str, global_batch: int) -> Iterator[DistContext]:
    """:func:`distributed_session` for a training run on ``device`` with ``global_batch`` images a step.

    Raises:
        ConfigError: before joining anything, when the global batch does not divide over the processes.
    """
    local_batch_size(global_batch, env_context().world_size)
    with distributed_session(resolve_device(device).type == "cuda") as ctx:
        yield ctx


@dataclass(frozen=True)
class Placement:
    """Where this process trains: its rank, its device (``cuda:LOCAL_RANK`` under DDP) and its batch."""

    ctx: DistContext
    device: torch.device
    local_batch: int


def place(device: str, global_batch: int) -> Placement:
    """This process's :class:`Placement` in the current process group (or alone)."""
    ctx = context()
    where = resolve_device(device)
    if ctx.distributed and where.type == "cuda":
        where = torch.device("cuda", ctx.local_rank)
    if where.type == "cuda":
        torch.backends.cudnn.benchmark = True  # training sizes are fixed: let cuDNN time and keep its fastest kernels
    return Placement(ctx, where, local_batch_size(global_batch, ctx.world_size))


def default_workers(place: Placement) -> int:
    """Loader processes when ``train.num_workers`` is null: none on a CPU, where augmentation in the
    training process costs less than the workers' share of the cores; on a GPU up to 8 per process,
    leaving one core to the training process (measured: ``bench/gpu.py``, BENCHMARKS.md)."""
    if place.device.type != "cuda":
        return 0
    cores = (os.cpu_count() or 2) // max(1, place.ctx.world_size)
    return max(1, min(8, cores - 1))


def seed_worker(worker_id: int) -> None:
    """Gives each loader process its own augmentation stream: the processes start as copies of the
    dataset, random state included, and would otherwise draw the same augmentations in step. The
    seed is PyTorch's per-worker seed, itself drawn from the seeded main process."""
    info = get_worker_info()
    if info is not None and hasattr(info.dataset, "set_random_state"):
        info.dataset.set_random_state(info.seed % 2**32)


def loaders(
    place: Placement,
    train_set: Dataset,
    sampler: Sampler[int],
    val_set: Dataset | None,
    num_workers: int | None = None,
) -> tuple[DataLoader, DataLoader | None]:
    """Training and validation loaders holding this rank's share of each global batch and of the validation set.

    The incomplete last training batch is dropped when the set holds more than one global batch.
    ``num_workers`` None: :func:`default_workers`. On a GPU, batches come in pinned memory.
    """
    workers = default_workers(place) if num_workers is None else num_workers
    ctx, batch = place.ctx, place.local_batch * place.ctx.world_size
    drop_last = len(train_set) > batch  # type: ignore[arg-type]
    if ctx.distributed:
        sampler = GlobalBatchShard(sampler, batch, ctx.rank, ctx.world_size, drop_last)
        drop_last = False  # the shard holds whole local batches only
    train = DataLoader(
        train_set,
        batch_size=place.local_batch,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=place.device.type == "cuda",
        worker_init_fn=seed_worker if workers > 0 else None,
    )
    if val_set is None:
        return train, None
    shard = shard_indices(len(val_set), ctx.rank, ctx.world_size) if ctx.distributed else None  # type: ignore[arg-type]
    return train, DataLoader(val_set, batch_size=place.local_batch, sampler=shard)


def barrier() -> None:
    """Waits for every rank (no-op when not distributed)."""
    if is_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sums ``tensor`` over ranks in place and returns it (unchanged when not distributed).

    Gloo reduces CPU tensors and NCCL CUDA tensors; the tensor is moved as needed.
    """
    if not is_initialized() or dist.get_world_size() == 1:
        return tensor
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    reduced = tensor.to(device)
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    tensor.copy_(reduced.to(tensor.device))
    return tensor


def any_rank(flag: bool) -> bool:
    """True if ``flag`` is true on at least one rank (e.g. one rank ran out of time)."""
    value = torch.tensor([1.0 if flag else 0.0], dtype=torch.float64)
    return bool(all_reduce_sum(value).item() > 0)


def local_batch_size(global_batch: int, world_size: int) -> int:
    """Per-process batch: ``global_batch / world_size``.

    Raises:
        ConfigError: the global batch does not divide evenly.
    """
    if global_batch % world_size != 0:
        raise ConfigError(
            f"train.batch_size={global_batch} is the global batch and must be divisible by the "
            f"{world_size} processes; use a multiple of {world_size}"
        )
    return global_batch // world_size


class GlobalBatchShard(Sampler[int]):
    """This rank's share of every global batch drawn by a single-process sampler.

    Every rank holds an identically seeded copy of ``base``; each epoch the full order is drawn,
    cut into global batches of ``global_batch`` (the incomplete last one dropped when
    ``drop_last``), and rank ``r`` takes positions ``r, r + W, r + 2W, ...``: its k-th local batch
    of ``global_batch / W`` items lies inside the k-th global batch. A last incomplete global
    batch (only when not dropped) is padded from its start to a multiple of ``W``, as
    ``DistributedSampler`` pads.

    torch's ``DistributedSampler`` is not used: its permutation (seeded by ``seed + epoch``)
    differs from the single-process order and it cannot draw with replacement
    (``train.iterations_per_epoch``).
    """

    def __init__(self, base: Sampler[int], global_batch: int, rank: int, world_size: int, drop_last: bool) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.base = base
        self.global_batch = global_batch
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last

    def _order(self) -> list[int]:
        order = list(self.base)
        if self.drop_last:
            order = order[: len(order) // self.global_batch * self.global_batch]
        remainder = len(order) % self.world_size
        if remainder:
            tail_start = len(order) // self.global_batch * self.global_batch
            tail = order[tail_start:]
            order += [tail[i % len(tail)] for i in range(self.world_size - remainder)]
        return order

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.rank :: self.world_size])

    def __len__(self) -> int:
        n = len(self.base)  # type: ignore[arg-type]
        if self.drop_last:
            n = n // self.global_batch * self.global_batch
        return -(-n // self.world_size)


def shard_indices(length: int, rank: int, world_size: int) -> list[int]:
    """Indices ``rank, rank + W, ...`` of ``range(length)``: every item once over all ranks (validation)."""
    return list(range(rank, length, world_size))


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device, sync_batchnorm: bool = False) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed (optionally with synchronised batch norm)."""
    if not ctx.distributed:
        return model
    if sync_batchnorm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model).to(device)
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def max_replica_difference(model: nn.Module) -> float:
    """Largest absolute difference of any parameter or buffer between ranks (0.0 when not distributed)."""
    if not is_initialized() or dist.get_world_size() == 1:
        return 0.0
    tensors = [t.detach().float().flatten() for t in list(model.parameters()) + list(model.buffers())]
    flat = torch.cat(tensors).cpu().double() if tensors else torch.zeros(1, dtype=torch.float64)
    high, low = flat.clone(), flat.clone()
    backend_device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    if backend_device is not None:
        high, low = high.to(backend_device), low.to(backend_device)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return float((high - low).max().item())
