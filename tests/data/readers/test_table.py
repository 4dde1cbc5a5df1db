"""The reader table (layout -> module): complete, exact, and cheap to read."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import medseg.data.readers
from medseg.data.readers import READERS
from medseg.data.readers.table import READER_MODULES

HEAVY = ("cv2", "scipy", "torch", "monai", "nibabel", "pydicom", "numpy")


def _imported_after(statement: str) -> list[str]:
    """The modules a fresh interpreter holds after ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    source = str(Path(medseg.data.readers.__file__).parents[3])  # the medseg under test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout)


def test_every_entry_is_registered_by_its_module():
    for name, module in READER_MODULES.items():
        reader = READERS.get(name)
        assert reader.__module__ == module, (name, reader.__module__)


def test_every_registered_reader_has_a_table_entry():
    package = medseg.data.readers
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
    registered = sorted(READERS._items)
    missing = [name for name in registered if name not in READER_MODULES]
    assert not missing, f"readers without a line in READER_MODULES (medseg/data/readers/table.py): {missing}"


def test_the_command_line_imports_no_reader():
    loaded = _imported_after("import medseg.cli")
    readers = [name for name in loaded if name.startswith("medseg.data.readers.") and not name.endswith(".table")]
    assert not readers, readers
    assert not [name for name in loaded if name.split(".")[0] in HEAVY]
    assert "medseg.data.converters.registry" not in loaded


def test_reading_a_layout_imports_its_reader_only():
    loaded = _imported_after("from medseg.data.readers import READERS\nREADERS.get('kvasir')")
    assert "medseg.data.readers.kvasir" in loaded
    assert "medseg.data.readers.lidc" not in loaded and "medseg.data.readers.nnunet" not in loaded
