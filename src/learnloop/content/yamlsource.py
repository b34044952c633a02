"""YAML loading that remembers where each mapping key and list item was written.

Problems must point at a line, so mappings and lists come back as subclasses that carry the
0-based line of each key and item. The C scanner does the heavy lifting when libyaml is present.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

# Without libyaml the pure-Python loader does the same job, only slower.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[Any, Any]):
    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line) if hasattr(self, "key_lines") else self.line


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        lines = getattr(self, "item_lines", [])
        return lines[index] if index < len(lines) else self.line


class _Loader(_BaseLoader):  # type: ignore[misc]  # base is chosen at import time
    pass


_STR_TAG = "tag:yaml.org,2002:str"


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line
    # Yield first so recursive structures (anchors) resolve the same way PyYAML's own map does.
    yield data
    data.update(loader.construct_mapping(node))
    data.key_lines = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        if key_node.tag == _STR_TAG:
            key: Any = key_node.value  # the common case, without constructing the key again
        else:
            try:
                key = loader.construct_object(key_node)
            except yaml.YAMLError:
                continue
        if isinstance(key, str | int | float | bool):
            data.key_lines.setdefault(key, key_node.start_mark.line)


def _construct_seq(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line
    yield data
    data.extend(loader.construct_sequence(node))
    data.item_lines = [item.start_mark.line for item in node.value]


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


class YamlError(Exception):
    """Bad YAML, with the 0-based line inside the parsed text."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(message)


def load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        # "Found unexpected end of stream" points past the last line; where the unfinished
        # thing (a quoted string, a [list) began is what the author needs to see.
        if error.context_mark is not None and "end of stream" in (error.problem or ""):
            mark = error.context_mark
        line = mark.line if mark is not None else 0
        problem = error.problem or "invalid YAML"
        if error.context:
            problem = f"{error.context}, {problem}"
        raise YamlError(line, f"bad YAML: {problem}") from error
    except yaml.YAMLError as error:
        raise YamlError(0, f"bad YAML: {error}") from error
