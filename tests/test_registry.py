"""medseg.registry.Registry: direct registrations and lazy entries (name -> the module registering it)."""

from __future__ import annotations

import sys

import pytest

from medseg.registry import Registry

# A registry the toy modules below register into (they import it from this test module).
TOYS: Registry = Registry("toy")


@pytest.fixture
def toy_modules(write_toy):
    """``write(name, body)`` writes the module ``name`` (not imported); every toy is forgotten afterwards."""
    yield write_toy
    TOYS._items.clear()


REGISTERS_TWO = """
    from tests.test_registry import TOYS

    @TOYS.register("alpha")
    def alpha():
        return "a"

    @TOYS.register("beta")
    def beta():
        return "b"
"""


def test_direct_registration():
    registry: Registry = Registry("thing")
    registry.register("one")(len)
    assert registry.get("one") is len and "one" in registry and list(registry) == ["one"]
    with pytest.raises(ValueError, match="thing 'one' is already registered"):
        registry.register("one")(len)
    with pytest.raises(KeyError, match="unknown thing 'two'; known: one"):
        registry.get("two")
    registry.unregister("one")
    registry.unregister("one")  # unknown: ignored
    assert "one" not in registry and registry.names() == []


def test_lazy_entries_are_listed_without_importing_and_loaded_on_first_use(toy_modules, monkeypatch):
    module = toy_modules("registry_toy_two", REGISTERS_TWO)
    table = {"alpha": module, "beta": module}
    monkeypatch.setattr(TOYS, "_lazy", table)
    TOYS.register("direct")(len)
    assert TOYS.names() == ["alpha", "beta", "direct"] == list(TOYS)
    assert "alpha" in TOYS and "gamma" not in TOYS
    assert module not in sys.modules  # listing imported nothing
    assert TOYS.get("beta")() == "b"
    assert module in sys.modules and TOYS.get("alpha")() == "a"  # one import registered both
    with pytest.raises(KeyError, match="unknown toy 'gamma'; known: alpha, beta, direct"):
        TOYS.get("gamma")
    table["gamma"] = module  # the table is kept by reference: a later entry is seen
    assert "gamma" in TOYS


def test_a_module_that_does_not_register_its_name_is_a_clear_error(toy_modules, monkeypatch):
    module = toy_modules("registry_toy_two", REGISTERS_TWO)
    monkeypatch.setattr(TOYS, "_lazy", {"gamma": module})
    with pytest.raises(ImportError, match="toy 'gamma' is listed under module 'registry_toy_two', but importing it"):
        TOYS.get("gamma")


def test_a_missing_module_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(TOYS, "_lazy", {"gone": "medseg.no_such_module"})
    with pytest.raises(ImportError, match="toy 'gone' is listed under module 'medseg.no_such_module', which is not"):
        TOYS.get("gone")


def test_a_module_missing_a_dependency_shows_the_dependency(toy_modules, monkeypatch):
    module = toy_modules("registry_toy_needs", "import no_such_dependency_xyz\n")
    monkeypatch.setattr(TOYS, "_lazy", {"needy": module})
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        TOYS.get("needy")
