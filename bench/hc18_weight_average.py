"""Weight averaging on the fetal-head recipe: does an exponential moving average (EMA) of the weights help?

Trains ``hc18_unet_fast`` once with extra ``--set`` overrides and keeps, beside the run, one EMA of the
weights per decay (updated after every optimiser step, batch-norm statistics averaged too, as timm's
``ModelEmaV2`` does). The EMA never feeds back into training, so every copy shares the run's trajectory:
the comparison is paired. Each ``RUN_ema<decay>`` folder is the run with ``checkpoints/best.pt`` holding
the averaged weights of the last epoch; score them as the run itself::

    python bench/hc18_weight_average.py --data ../shared/data/hc18 --out runs/ema [--seed 1] [--threads 1]
    python bench/hc18_postprocess_ablation.py runs/ema_ema0.995 --data ../shared/data/hc18 --split val --tta \\
        --scales 1,1.1,1.2
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import medseg.training.engine as engine
from medseg.config import load_config
from medseg.experiments.train import train_run
from medseg.models.checkpoint import load_checkpoint, save_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decays", default="0.99,0.995,0.998,0.999")
    parser.add_argument("--set", action="append", default=[], help="more config overrides, KEY=VALUE")
    args = parser.parse_args()
    decays = [float(v) for v in args.decays.split(",")]
    averages: dict[float, AveragedModel] = {}
    train_step = engine.train_step

    def step_and_average(state, images, masks):
        result = train_step(state, images, masks)
        if not averages:
            for decay in decays:
                averages[decay] = AveragedModel(state.net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        for average in averages.values():
            average.update_parameters(state.net)
        return result

    engine.train_step = step_and_average
    overrides = [f"train.seed={args.seed}", f"train.threads={args.threads}", *args.set]
    run = Path(args.out)
    train_run(load_config("hc18_unet_fast", overrides), args.data, run)
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    for decay, average in averages.items():
        copy = run.parent / f"{run.name}_ema{decay:g}"
        shutil.copytree(run, copy, dirs_exist_ok=True)
        weights = {k.removeprefix("module."): v for k, v in average.state_dict().items() if k.startswith("module.")}
        save_checkpoint(copy / "checkpoints" / "best.pt", {**last, "state_dict": weights})
        print(f"EMA {decay:g}: {copy}")


if __name__ == "__main__":
    main()
