"""The converter registry: the shipped converters, the table naming their modules, and a new one
added in one file plus one table line."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import textwrap
from pathlib import Path

import pytest

import medseg.data.converters
from medseg.data.converters import CONVERTERS
from medseg.data.converters.table import CONVERTER_MODULES
from medseg.errors import ConfigError
from medseg.experiments.convert import convert_dataset


def test_the_shipped_converters_are_registered() -> None:
    assert {"dicom", "ircadb", "nnunet"} <= set(CONVERTERS.names())
    assert CONVERTERS.names() == sorted(CONVERTER_MODULES)
    assert CONVERTERS.get("nnunet").reads_layout and not CONVERTERS.get("ircadb").reads_layout


def test_every_table_entry_is_registered_by_its_module() -> None:
    for name, module in CONVERTER_MODULES.items():
        assert CONVERTERS.get(name).write.__module__ == module, name


def test_every_registered_converter_has_a_table_entry() -> None:
    package = medseg.data.converters
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
    missing = [name for name in CONVERTERS._items if name not in CONVERTER_MODULES]
    assert not missing, f"converters without a line in CONVERTER_MODULES (medseg/data/converters/table.py): {missing}"


def test_a_new_converter_is_one_module_and_one_table_line(tmp_path, monkeypatch, request) -> None:
    module = tmp_path / "toy_converter.py"
    module.write_text(
        textwrap.dedent(
            """
            from medseg.data.converters.registry import CONVERTERS, Converter

            def _write(src, work, cases, labels):
                target = work / "listing.txt"
                target.write_text("\\n".join(sorted(p.name for p in src.iterdir())))
                return [target]

            CONVERTERS.register("toy")(Converter(_write, "a folder -> the list of its files"))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_converter", raising=False)
    monkeypatch.setitem(CONVERTER_MODULES, "toy", "toy_converter")  # the one table line
    request.addfinalizer(lambda: CONVERTERS.unregister("toy"))  # the registration ends with the test
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(b"")
    assert "toy" in CONVERTERS and "toy_converter" not in sys.modules  # known before its module loads
    written = convert_dataset("toy", src, tmp_path / "out")
    assert written == [tmp_path / "out" / "listing.txt"]
    assert Path(written[0]).read_text() == "a.png"


def test_an_unknown_conversion_lists_the_known_ones(tmp_path) -> None:
    known = ", ".join(sorted(CONVERTER_MODULES))
    with pytest.raises(ConfigError, match=f"unknown conversion 'nope'; known: {known}$"):
        convert_dataset("nope", tmp_path, tmp_path / "out")
