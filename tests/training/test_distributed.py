"""Data-parallel training: 2 processes (Gloo on CPU) match a single process with the same global batch.

The equality needs the same data in every optimiser step and nothing random per process: batch
norm off (its statistics would be per-process batches), no augmentation, and the data order of
:class:`medseg.training.distributed.GlobalBatchShard`, which splits every global batch of the
single-process sampler between the processes.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils.data import RandomSampler

from medseg.config import load_config
from medseg.experiments.train import train_run
from medseg.models.checkpoint import load_checkpoint
from medseg.training.distributed import GlobalBatchShard, shard_indices

from ..conftest import DETERMINISTIC, TINY


def global_batches(n: int, batch: int, seed: int, drop_last: bool, num_samples: int | None = None) -> list[set[int]]:
    sampler = RandomSampler(
        range(n),
        replacement=num_samples is not None,
        num_samples=num_samples,
        generator=torch.Generator().manual_seed(seed),
    )
    order = list(sampler)
    stop = len(order) // batch * batch if drop_last else len(order)
    return [set(order[i : i + batch]) for i in range(0, stop, batch)]


def sharded_batches(
    n: int, batch: int, seed: int, drop_last: bool, world: int, num_samples: int | None = None
) -> list[set[int]]:
    local = batch // world
    streams = []
    for rank in range(world):
        base = RandomSampler(
            range(n),
            replacement=num_samples is not None,
            num_samples=num_samples,
            generator=torch.Generator().manual_seed(seed),
        )
        stream = list(GlobalBatchShard(base, batch, rank, world, drop_last))
        assert len(stream) == len(GlobalBatchShard(base, batch, rank, world, drop_last))
        streams.append([stream[i : i + local] for i in range(0, len(stream), local)])
    assert len({len(s) for s in streams}) == 1  # every rank runs the same number of steps
    return [set().union(*(s[j] for s in streams)) for j in range(len(streams[0]))]


@pytest.mark.parametrize(("n", "batch", "world"), [(10, 4, 2), (13, 6, 3), (12, 4, 4)])
def test_shards_make_up_the_single_process_global_batches(n, batch, world):
    assert sharded_batches(n, batch, 7, True, world) == global_batches(n, batch, 7, True)
    with_replacement = global_batches(n, batch, 3, False, num_samples=5 * batch)
    assert sharded_batches(n, batch, 3, False, world, num_samples=5 * batch) == with_replacement


def test_small_last_batch_is_padded_to_the_process_count():
    # 3 images, global batch 4, 2 processes: one step, one image seen twice
    assert sharded_batches(3, 4, 0, False, 2) == global_batches(3, 4, 0, False)
    assert sorted(shard_indices(5, 1, 2)) == [1, 3]


DRIVER = textwrap.dedent(
    """
    import sys
    import torch
    import medseg.experiments.train as run
    from medseg.cli import main
    from medseg.training.callbacks import Callback
    from medseg.training.distributed import context

    folder = sys.argv[1]

    class SaveWeights(Callback):
        def on_fit_end(self, model):
            torch.save(model.state_dict(), f"{folder}/rank{context().rank}.pt")

    fit = run.fit
    run.fit = lambda *args, **kwargs: fit(*args, **{**kwargs, "callbacks": [SaveWeights()]})
    sys.argv = ["medseg"] + sys.argv[2:]
    main()
    """
)


TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not installed")
def test_two_process_ddp_matches_single_process(fetal_data, tmp_path):
    overrides = TINY + DETERMINISTIC + ["train.epochs=2", "train.batch_size=4", "train.tensorboard=false"]
    (tmp_path / "driver.py").write_text(DRIVER)
    torchrun = TORCHRUN
    ddp_dir = tmp_path / "ddp"
    command = [torchrun, "--standalone", "--nproc_per_node", "2", str(tmp_path / "driver.py"), str(tmp_path)]
    command += ["train", "demo", "--data", str(fetal_data), "--out", str(ddp_dir), *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x 2 processes (batch 2 each)" in done.stderr
    assert done.stdout.count("best val_dice") == 1  # rank 0 reports, rank 1 does not

    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # DDP keeps the replicas identical

    single = train_run(load_config("demo", overrides), fetal_data, tmp_path / "single")
    single_weights = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.pt")["state_dict"]
    ddp_weights = load_checkpoint(ddp_dir / "checkpoints" / "last.pt")["state_dict"]
    initial_gap = max((rank0[k] - single_weights[k]).abs().max().item() for k in rank0)
    assert initial_gap < 1e-5
    assert all(torch.allclose(ddp_weights[k], single_weights[k], atol=1e-5) for k in single_weights)

    def epoch_rows(path):
        with (path / "history.csv").open() as handle:
            return [r for r in csv.DictReader(handle) if r["level"] == "epoch"]

    ddp_rows, single_rows = epoch_rows(ddp_dir), epoch_rows(tmp_path / "single")
    val_losses = [float(r["loss"]) for r in ddp_rows if r["phase"] == "val"]
    assert len(val_losses) == 2 and val_losses[0] != val_losses[1]  # the weights did move
    assert [(r["phase"], r["epoch"], r["iteration"]) for r in ddp_rows] == [
        (r["phase"], r["epoch"], r["iteration"]) for r in single_rows
    ]
    for ddp_row, single_row in zip(ddp_rows, single_rows, strict=True):
        assert float(ddp_row["loss"]) == pytest.approx(float(single_row["loss"]), rel=1e-5)
        assert float(ddp_row["pixel_accuracy"]) == pytest.approx(float(single_row["pixel_accuracy"]), rel=1e-6)
    assert single.best_epoch == load_checkpoint(ddp_dir / "checkpoints" / "last.pt")["best_epoch"]
    # rank 1 wrote nothing of its own: one set of run files
    assert sorted(p.name for p in ddp_dir.iterdir()) == [
        ".medseg.json",
        "checkpoints",
        "config.yaml",
        "history.csv",
        "run.json",
        "split.json",
        "train.log",
    ]


def test_loader_processes_draw_different_augmentations():
    """Workers start as copies of the dataset; each must reseed, or they augment in step."""
    import numpy as np
    from torch.utils.data import SequentialSampler

    from medseg.config import AugmentConfig, DataConfig
    from medseg.data.case import Case
    from medseg.data.dataset import SegmentationDataset
    from medseg.training.distributed import loaders, place

    rng = np.random.default_rng(0)
    image = rng.random((32, 32)).astype(np.float32)
    mask = (image > 0.5).astype(np.uint8)
    cases = [Case(f"c{i}", image, mask, {}) for i in range(4)]
    data = DataConfig(image_size=[32, 32], num_classes=2, class_names=["background", "fg"])
    dataset = SegmentationDataset(cases, data, AugmentConfig(flip=True, rotate_deg=90, noise=0.5, prob=1.0))
    dataset.set_random_state(0)
    torch.manual_seed(0)
    train, _ = loaders(place("cpu", 1), dataset, SequentialSampler(dataset), None, num_workers=2)
    first, second = [batch["image"] for _, batch in zip(range(2), train, strict=False)]
    assert not torch.equal(first, second)  # the same image, drawn by the two workers
