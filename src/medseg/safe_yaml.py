"""YAML read with a budget: an alias bomb ("billion laughs") is refused before it is expanded."""

from __future__ import annotations

from typing import Any

import yaml

MAX_YAML_NODES = 100_000  # values a YAML file may hold once its aliases are expanded


class _BudgetLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses aliases expanding beyond :data:`MAX_YAML_NODES` values or
    referring to themselves (a "billion laughs" file of 1 KB), before anything is built from them."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node, {}, set())
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise yaml.YAMLError("an alias refers to itself (recursive YAML)")
    active.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes, active) + _expanded_size(v, sizes, active) for k, v in node.value)
    else:
        size = 1
    active.discard(key)
    if size > MAX_YAML_NODES:
        raise yaml.YAMLError(
            f"aliases expand to more than {MAX_YAML_NODES} values (limit; write the repeated values out instead)"
        )
    sizes[key] = size
    return size


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` with the alias budget of :class:`_BudgetLoader`.

    Raises:
        yaml.YAMLError: invalid YAML, or aliases beyond the budget.
    """
    return yaml.load(text, Loader=_BudgetLoader)  # noqa: S506 - a SafeLoader subclass
