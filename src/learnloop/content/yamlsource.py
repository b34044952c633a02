"""YAML loading that remembers where each mapping key and list item was written.

Problems must point at a line, so mappings and lists come back as subclasses that carry the
0-based line of each key and item. The C scanner does the heavy lifting when libyaml is present.
"""

from __future__ import annotations

from collections.abc import Hashable
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
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _Builder:
    """Turn composed YAML nodes into LineDict / LineList / scalars.

    PyYAML's generic constructor spends most of its time on bookkeeping that plain documents
    never need; walking the nodes directly is several times faster. Anything unusual (numbers,
    booleans, dates, unknown tags) still goes through the safe constructor.
    """

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.built: dict[int, Any] = {}  # anchors share nodes; build each once

    def build(self, node: yaml.Node) -> Any:
        done = self.built.get(id(node))
        if done is not None:
            return done
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR_TAG:
                return node.value
            return self.loader.construct_object(node, deep=True)
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            mapping = LineDict()
            mapping.line = node.start_mark.line
            mapping.key_lines = {}
            self.built[id(node)] = mapping
            self.loader.flatten_mapping(node)  # resolves '<<' merge keys
            for key_node, value_node in node.value:
                key = self.build(key_node)
                if not isinstance(key, Hashable):
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        "found a key that is a list or mapping",
                        key_node.start_mark,
                    )
                mapping[key] = self.build(value_node)
                mapping.key_lines.setdefault(key, key_node.start_mark.line)
            return mapping
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            items = LineList()
            items.line = node.start_mark.line
            self.built[id(node)] = items
            items.extend(self.build(item) for item in node.value)
            items.item_lines = [item.start_mark.line for item in node.value]
            return items
        return self.loader.construct_object(node, deep=True)


class YamlError(Exception):
    """Bad YAML, with the 0-based line inside the parsed text."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(message)


def load_yaml(text: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _Builder(loader).build(node)
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
    finally:
        loader.dispose()
