"""A dataset read the way a config says: the one entry point for training, evaluation and studies.

:func:`load_cases` reads every case with the reader named by ``data.layout`` (options from
``data.reader``), checks each one against the config (pixel and voxel limits, labels below
``data.num_classes``, crops that leave something of each image) and fails on the first problem with
how many more ``medseg check`` would list.
"""

from __future__ import annotations

from pathlib import Path

from medseg.config import Config
from medseg.data.case import Case
from medseg.data.checks import summarize_problems
from medseg.data.readers import check_dataset
from medseg.data.transforms import crop_problem
from medseg.data.volumes.base import voxel_limit
from medseg.errors import DataError


def load_cases(config: Config, data_path: str | Path) -> list[Case]:
    """Reads and checks every labelled case of a dataset with the reader named by ``config.data.layout``.

    Raises:
        DataError: the first problem found, with how many more ``medseg check`` lists.
        ConfigError: unknown layout or reader options.
    """
    with voxel_limit(config.data.max_voxels):
        cases, problems = check_dataset(
            config.data.layout,
            data_path,
            max_pixels=config.data.max_pixels,
            max_label=config.data.num_classes - 1,
            **config.data.reader,
        )
    if problems:
        raise summarize_problems(problems, data_path, config.data.layout)
    cropped_away = [(case, crop_problem(case.image.shape, config.data.crop)) for case in cases]
    cropped_away = [(case, problem) for case, problem in cropped_away if problem]
    if cropped_away:
        case, problem = cropped_away[0]
        more = f" (and {len(cropped_away) - 1} more images)" if len(cropped_away) > 1 else ""
        raise DataError(case.source or case.id, problem + more)
    return cases
