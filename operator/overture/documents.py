"""YAML read as kubectl reads it, with every surprise of YAML explained.

``read_yaml`` turns the bytes of a file (or a text) into its documents, or raises ``SpecError``
with a message a person can act on. It reads what ``kubectl apply`` would send to the API
server, so ``overture validate`` never passes a file kubectl then rejects or reads otherwise:

- bytes must be UTF-8 (the error names the line and column of the first bad byte);
- YAML 1.1 booleans are booleans, ``y``/``n`` included (PyYAML leaves those two as strings;
  sigs.k8s.io/yaml does not), and timestamps stay strings;
- a key given twice in one mapping is an error, never last-wins (kubectl 1.34 keeps the last one
  and says nothing: one of two spellings of a field vanishes unseen);
- mapping keys become strings (``on:`` is the key ``"true"``), as the JSON kubectl sends;
- aliases (``*name``) may add at most ``MAX_ALIAS_EXPANSION`` values to what is written, and may
  not contain themselves: a 660-byte alias bomb is refused in microseconds instead of growing
  past gigabytes once something walks it;
- a file is at most ``MAX_FILE_BYTES`` and each document at most ``MAX_OBJECT_BYTES`` as JSON,
  what etcd stores per object (the API server refuses bigger ones).

Each document carries ``notes``: where YAML read a plain value as something a person may not
have meant (``id: n`` as false, ``- echo a: b`` as a mapping). ``YamlDocument.explain`` adds the
note to a problem reported at that path, with the quoting that fixes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from overture.api import SpecError
from overture.api.errors import COLON_HINT, QUOTE_HINT, format_path

MAX_OBJECT_BYTES = 1_572_864  # etcd's default --max-request-bytes: 1.5 MiB per stored object
MAX_FILE_BYTES = 8 * MAX_OBJECT_BYTES  # a file of several flows; beyond this, nothing is parsed
MAX_ALIAS_EXPANSION = 100_000  # values aliases may add to those written
_BOOL = "tag:yaml.org,2002:bool"
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# YAML 1.1's booleans as Go's yaml (and so kubectl) reads them; PyYAML lacks y and n.
_BOOL_WORDS = "y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"


class _Loader(yaml.CSafeLoader):
    """Safe YAML with kubectl's scalars: timestamps are strings, ``y``/``n`` are booleans.

    libyaml's parser (PyYAML's C binding) reads 1.5 MB in 0.4 s where the pure-Python one takes
    4.6 s; the resolvers and constructors stay PyYAML's. A plain scalar's style is ``''`` here."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TIMESTAMP, _BOOL)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(rf"^(?:{_BOOL_WORDS})$"), list("yYnNtTfFoO"))
_Loader.bool_values = {
    **yaml.SafeLoader.bool_values,
    **{word: word.lower() in ("y", "yes", "true", "on") for word in _BOOL_WORDS.split("|")},
}


@dataclass(frozen=True)
class YamlDocument:
    """One document: its value, and notes on surprising readings by path (``spec.tasks[0].id``)."""

    value: Any
    notes: Mapping[str, str] = field(default_factory=dict)

    def explain(self, problems: Iterable[str]) -> list[str]:
        """``problems`` with the note of their path appended, where there is one."""
        return [_explained(problem, self.notes) for problem in problems]


def _explained(problem: str, notes: Mapping[str, str]) -> str:
    path = problem.split(": ", 1)[0]
    note = notes.get(path)
    if not note:
        return problem
    for general in (COLON_HINT, QUOTE_HINT):  # the note says it for this line, with the quoting
        problem = problem.replace(general, "", 1)
    return f"{problem} ({note})"


def read_yaml(source: str | bytes, where: str) -> list[YamlDocument]:
    """Every non-empty document of ``source``; raises SpecError naming ``where`` and the line."""
    text = _decoded(source, where)
    loader = _Loader(text)
    documents: list[YamlDocument] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_aliases(node, where)
            notes: dict[str, str] = {}
            _check_keys(loader, node, where)
            _collect_notes(node, [], text, notes)
            value = _stringify_keys(loader.construct_document(node))
            if value is None:
                continue
            _check_size(value, where, len(documents))
            documents.append(YamlDocument(value, notes))
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_problem(exc, text, where)]) from None
    except RecursionError:
        raise SpecError([f"{where}: nested too deeply to read; flatten it"]) from None
    finally:
        loader.dispose()
    return documents


def _decoded(source: str | bytes, where: str) -> str:
    size = len(source.encode() if isinstance(source, str) else source)
    if size > MAX_FILE_BYTES:
        raise SpecError(
            [
                f"{where}: {size:,} bytes; a file of flows may hold at most {MAX_FILE_BYTES:,} "
                f"(the API server stores at most {MAX_OBJECT_BYTES:,} bytes per Flow)"
            ]
        )
    if isinstance(source, str):
        return source
    try:
        return source.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = source[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            [
                f"{where}: not UTF-8 at line {line}, column {column} (byte 0x{source[exc.start]:02x}); "
                "save the file as UTF-8"
            ]
        ) from None


def _check_aliases(root: Node, where: str) -> None:
    """Refuse aliases that expand past MAX_ALIAS_EXPANSION values, or that contain themselves.

    Sizes are memoised per node, so this costs one visit per distinct node, whatever the expansion.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            line = node.start_mark.line + 1
            raise SpecError([f"{where}: line {line}: an alias refers to a value that contains it; break the loop"])
        open_nodes.add(key)
        total = 1 + sum(size(child) for child in _children(node))
        open_nodes.discard(key)
        sizes[key] = total
        return total

    expanded = size(root)
    added = expanded - len(sizes)
    if added > MAX_ALIAS_EXPANSION:
        raise SpecError(
            [
                f"{where}: aliases (*name) expand this document by {added:,} values, more than "
                f"{MAX_ALIAS_EXPANSION:,}; write the values out or use fewer nested aliases"
            ]
        )


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        yield from node.value
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _check_keys(loader: _Loader, root: Node, where: str) -> None:
    """A key written twice in one mapping is an error, as in kubectl (merge keys ``<<`` excepted)."""
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first_line: dict[str, int] = {}
            for key, _ in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    continue
                name = _key_text(loader, key)
                if name in first_line:
                    raise SpecError(
                        [
                            f"{where}: line {key.start_mark.line + 1}: key {name!r} is already set at line "
                            f"{first_line[name]} of the same mapping; kubectl would keep the last one "
                            "without a word; keep one"
                        ]
                    )
                first_line[name] = key.start_mark.line + 1
        stack.extend(_children(node))


def _key_text(loader: _Loader, key: Node) -> str:
    if isinstance(key, ScalarNode):
        return _as_key(loader.construct_object(key, deep=True))
    return json.dumps(loader.construct_object(key, deep=True), sort_keys=True, default=str)


def _as_key(key: Any) -> str:
    """A mapping key as the JSON kubectl sends has it: always a string."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _stringify_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_as_key(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


def _collect_notes(node: Node, path: list[str | int], text: str, notes: dict[str, str]) -> None:
    """Note plain booleans other than true/false, and one-pair mappings made by an unquoted ': '."""
    if isinstance(node, ScalarNode):
        if node.tag == _BOOL and not node.style and node.value.lower() not in ("true", "false"):
            notes[format_path(path)] = (
                f"line {node.start_mark.line + 1}: YAML reads the unquoted {node.value} as a boolean, as kubectl "
                f"does; quote it: {_quoted(node.value)}"
            )
        return
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _collect_notes(item, [*path, index], text, notes)
        return
    if not isinstance(node, MappingNode):
        return
    if path and _is_colon_accident(node):
        written = text[node.start_mark.index : node.end_mark.index].strip()
        notes[format_path(path)] = (
            f"line {node.start_mark.line + 1}: the unquoted ': ' in {written!r} makes it a mapping; "
            f"quote the whole value: {_quoted(written)}"
        )
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag == _STR:
            _collect_notes(value, [*path, key.value], text, notes)


def _is_colon_accident(node: MappingNode) -> bool:
    """A one-pair mapping whose key is a plain text with a space: ``- echo a: b``."""
    if len(node.value) != 1:
        return False
    key, value = node.value[0]
    return (
        isinstance(key, ScalarNode)
        and not key.style
        and " " in key.value
        and isinstance(value, ScalarNode)
        and value.start_mark.line == key.start_mark.line
    )


def _quoted(text: str) -> str:
    """``text`` as a YAML scalar that stays a string."""
    if "'" not in text and "\n" not in text:
        return f"'{text}'"
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _check_size(value: Any, where: str, index: int) -> None:
    size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
    if size > MAX_OBJECT_BYTES:
        name = value.get("metadata", {}).get("name") if isinstance(value, dict) else None
        what = f"{name!r}" if isinstance(name, str) else f"document {index + 1}"
        raise SpecError(
            [
                f"{where}: {what} is {size:,} bytes as JSON; the API server stores at most {MAX_OBJECT_BYTES:,} "
                "bytes per object. Move large scripts into an image, or data into the artifact store"
            ]
        )


def _yaml_problem(exc: yaml.YAMLError, text: str, where: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    if mark is None:
        return f"{where}: not valid YAML: {problem}"
    line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
    message = f"{where}: not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    hint = _colon_hint(line, problem)
    return f"{message}. {hint}" if hint else message


# What libyaml (and PyYAML) say when an unquoted ': ' ends a plain value where no mapping may start.
_COLON_PROBLEMS = ("mapping values are not allowed", "did not find expected key", "expected <block end>")


def _colon_hint(line: str, problem: str) -> str | None:
    """How to quote a line whose value holds an unquoted ': ' (``script: print("a: b")``)."""
    if not any(words in problem for words in _COLON_PROBLEMS):
        return None
    body, prefix = line.strip(), ""
    if body.startswith("- "):
        prefix, body = "- ", body[2:].lstrip()
    key, sep, value = body.partition(": ")
    if not sep:
        return None
    if " " in key or key.startswith(("'", '"')):  # no field has such a name: the whole line is one value
        fixed = f"{prefix}{_quoted(body)}"
    else:
        fixed = f"{prefix}{key}: {_quoted(value)}"
    return f"A ': ' inside an unquoted value starts a mapping; quote the value, {fixed}, or write it as a block (|)"
