"""JSON with comments, as VS Code writes it: a tolerant reader and a merge by text edits.

:func:`parse` reads ``//`` and ``/* */`` comments and trailing commas and remembers
where every value starts and ends; :func:`merge` puts a :class:`Target`'s entries
into a document's array (replacing those with the same identity key, appending the
rest) as text edits, so everything else, comments included, stays byte for byte.
See :mod:`devenv.commands.vscode` for the whole policy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple


@dataclass(frozen=True)
class Target:
    """One file devenv merges into: where, which array, which key names an entry."""

    rel: str
    array: str  # "tasks" | "configurations"
    key: str  # "label" | "name"
    version: str  # for a new file
    entries: tuple[Mapping[str, Any], ...]
    notes: Mapping[str, str] = field(default_factory=dict)  # entry name -> comment written inside it


# --- a tolerant reader for JSON with comments ------------------------------------------------

class JsoncError(ValueError):
    """The text is not JSON, even allowing comments and trailing commas."""

    def __init__(self, message: str, text: str, pos: int) -> None:
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"line {line}, column {column}: {message}")


class Member(NamedTuple):
    name: str
    at: int  # where the key's opening quote is
    node: "Node"


@dataclass
class Node:
    """A value and where it stands in the text: ``text[start:end]``."""

    start: int
    end: int
    value: Any
    members: list[Member] | None = None  # an object's, in order (duplicates kept)
    items: list["Node"] | None = None  # an array's


_WS = " \t\r\n\ufeff"
_STRING = re.compile(r'"(?:[^"\\\r\n]|\\.)*"')
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None}


class _Reader:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def error(self, message: str) -> JsoncError:
        return JsoncError(message, self.text, self.pos)

    def peek(self) -> str:
        """The next character that is not whitespace or part of a comment ("" at the end)."""
        text = self.text
        while self.pos < len(text):
            if text[self.pos] in _WS:
                self.pos += 1
            elif text.startswith("//", self.pos):
                newline = text.find("\n", self.pos)
                self.pos = len(text) if newline < 0 else newline
            elif text.startswith("/*", self.pos):
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise self.error("a /* comment is never closed")
                self.pos = close + 2
            else:
                break
        return text[self.pos:self.pos + 1]

    def value(self) -> Node:
        c = self.peek()
        start = self.pos
        if c in ("{", "["):
            return self.container("}" if c == "{" else "]", start)
        if c == '"':
            text = self.string()  # advances self.pos past the closing quote
            return Node(start, self.pos, text)
        m = _NUMBER.match(self.text, start)
        if m:
            self.pos = m.end()
            return Node(start, self.pos, json.loads(m.group()))
        for word, value in _LITERALS.items():
            if self.text.startswith(word, start):
                self.pos += len(word)
                return Node(start, self.pos, value)
        raise self.error("expected a value" if c else "the text ends where a value should be")

    def string(self) -> str:
        m = _STRING.match(self.text, self.pos)
        if not m:
            raise self.error("a string is never closed")
        try:
            value = json.loads(m.group(), strict=False)
        except ValueError:
            raise self.error("a string holds a bad escape") from None
        self.pos = m.end()
        return value

    def container(self, close: str, start: int) -> Node:
        self.pos += 1
        members: list[Member] = []
        items: list[Node] = []
        while self.peek() != close:
            if not self.peek():
                raise self.error(f"expected {close!r} before the end of the text")
            if close == "}":
                if self.peek() != '"':
                    raise self.error("expected a key in double quotes")
                at = self.pos
                key = self.string()
                if self.peek() != ":":
                    raise self.error("expected ':' after the key")
                self.pos += 1
                members.append(Member(key, at, self.value()))
            else:
                items.append(self.value())
            if self.peek() == ",":
                self.pos += 1  # a trailing comma before the close is allowed
            elif self.peek() != close:
                raise self.error(f"expected ',' or {close!r}")
        self.pos += 1
        if close == "}":
            return Node(start, self.pos, {m.name: m.node.value for m in members}, members=members)
        return Node(start, self.pos, [n.value for n in items], items=items)


def parse(text: str) -> Node | None:
    """Read JSON with comments and trailing commas; None when there is no value at all.

    >>> parse('{"a": [1, 2,], // note\\n}').value
    {'a': [1, 2]}
    """
    reader = _Reader(text)
    if not reader.peek():
        return None
    node = reader.value()
    if reader.peek():
        raise reader.error("unexpected text after the end")
    return node


# --- merging by text edits --------------------------------------------------------------------

@dataclass(frozen=True)
class Merged:
    text: str
    changed: bool
    preserved: bool  # False: rewritten without comments (the caller keeps a .bak)


Edit = tuple[int, int, str]  # replace text[start:end] with the string


def merge(text: str | None, target: Target) -> Merged:
    """``text`` with devenv's entries put in (see the module docstring for how).

    >>> t = Target("x.json", "tasks", "label", "2.0.0", ({"label": "a"},))
    >>> print(merge('{"tasks": [ // mine\\n  {"label": "b"}\\n]}', t).text)
    {"tasks": [ // mine
      {"label": "b"},
      {
        "label": "a"
      }
    ]}
    """
    root = parse(text) if text is not None else None
    if root is None:  # no file, or only whitespace and comments: start from VS Code's skeleton
        nl = _newline(text or "")
        head = text + ("" if text.endswith("\n") else nl) if text else ""
        return merge_into(head + f'{{{nl}\t"version": "{target.version}",{nl}\t"{target.array}": []{nl}}}{nl}', target, text)
    return merge_into(text or "", target, text)


def merge_into(text: str, target: Target, original: str | None) -> Merged:
    root = parse(text)
    if root is None or not isinstance(root.value, dict):
        raise JsoncError("the file must hold one JSON object ({...})", text, root.start if root else 0)
    array = _last_member(root, target.array)
    if array is not None and not isinstance(array.value, list):
        raise JsoncError(f'"{target.array}" must be a list ([...])', text, array.start)
    new_text = _apply(text, _edits(text, root, array, target))
    if not _faithful(root, new_text, target):
        return Merged(_rewrite(root.value, target, _newline(text)), True, preserved=False)
    return Merged(new_text, new_text != original, preserved=True)


def _last_member(obj: Node, key: str) -> Node | None:
    found = [m.node for m in obj.members or () if m.name == key]
    return found[-1] if found else None  # VS Code, like JSON.parse, keeps the last duplicate


def _edits(text: str, root: Node, array: Node | None, target: Target) -> list[Edit]:
    nl = _newline(text)
    unit = _indent_unit(text, root)

    def render(entry: Mapping[str, Any], indent: str) -> str:
        return _render(entry, indent, unit, nl, target.notes.get(entry[target.key]))

    if array is None:  # add the whole array as the object's last member
        indent = _line_indent(text, root.start) + unit
        body = f",{nl}{indent}{unit}".join(render(e, indent + unit) for e in target.entries)
        member = f'"{target.array}": [{nl}{indent}{unit}{body}{nl}{indent}]'
        members = root.members or []
        return _append(text, root, members[-1].node.end if members else None, indent, member, nl)
    wanted = {e[target.key]: e for e in target.entries}
    edits: list[Edit] = []
    seen: set[str] = set()
    for item in array.items or ():
        name = item.value.get(target.key) if isinstance(item.value, dict) else None
        if isinstance(name, str) and name in wanted:  # devenv's own entry: replaced where it stands
            seen.add(name)
            edits.append((item.start, item.end, render(wanted[name], _line_indent(text, item.start))))
    missing = [e for e in target.entries if e[target.key] not in seen]
    if missing:
        items = array.items or []
        if items and _starts_line(text, items[-1].start):
            indent = _line_indent(text, items[-1].start)
        else:
            indent = _line_indent(text, array.start) + unit
        new = f",{nl}{indent}".join(render(e, indent) for e in missing)
        edits += _append(text, array, items[-1].end if items else None, indent, new, nl)
    return edits


# After a value: maybe a comma, maybe comments up to the end of the line.
_REST_OF_LINE = re.compile(r"[ \t]*(,)?(?:[ \t]*(?://[^\r\n]*|/\*(?:(?!\*/)[^\r\n])*\*/))*")


def _append(text: str, container: Node, last_end: int | None, indent: str, new: str, nl: str) -> list[Edit]:
    """Edits that add ``new`` (laid out at ``indent``) after the last member or item of ``container``."""
    if last_end is None:  # empty
        inner = text[container.start + 1:container.end - 1]
        if inner.strip(_WS) == "":  # [] or { }: lay it out afresh
            return [(container.start + 1, container.end - 1, f"{nl}{indent}{new}{nl}{_line_indent(text, container.start)}")]
        at = _REST_OF_LINE.match(text, container.start + 1).end()  # type: ignore[union-attr]
        return [(at, at, f"{nl}{indent}{new}")]  # the comments inside stay, after the new entries
    m = _REST_OF_LINE.match(text, last_end)
    assert m is not None  # the pattern matches the empty string
    if m.group(1):  # a trailing comma already separates: the new entries go after it (and its comment)
        return [(m.end(), m.end(), f"{nl}{indent}{new}")]
    if m.end() == last_end:
        return [(last_end, last_end, f",{nl}{indent}{new}")]
    return [(last_end, last_end, ","), (m.end(), m.end(), f"{nl}{indent}{new}")]  # the comma before the comment


def _apply(text: str, edits: list[Edit]) -> str:
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):  # never overlapping
        text = text[:start] + new + text[end:]
    return text


def _faithful(before: Node, after_text: str, target: Target) -> bool:
    """Whether the edited text holds exactly the user's data plus devenv's entries."""
    try:
        after = parse(after_text)
    except JsoncError:
        return False
    if after is None or not isinstance(after.value, dict):
        return False
    old, new = dict(before.value), dict(after.value)
    old_items, new_items = old.pop(target.array, []), new.pop(target.array, None)
    if old != new or not isinstance(new_items, list):
        return False
    wanted = {e[target.key]: dict(e) for e in target.entries}

    def ours(item: Any) -> bool:
        return isinstance(item, dict) and item.get(target.key) in wanted

    if [i for i in old_items if not ours(i)] != [i for i in new_items if not ours(i)]:
        return False
    mine = [i for i in new_items if ours(i)]
    return all(i == wanted[i[target.key]] for i in mine) and {i[target.key] for i in mine} == set(wanted)


def _rewrite(data: dict[str, Any], target: Target, nl: str) -> str:
    """The safety net: the merged data laid out afresh (comments are lost; the caller keeps a .bak)."""
    data = dict(data)
    wanted = {e[target.key]: dict(e) for e in target.entries}
    placed: set[str] = set()
    items = []
    for item in data.get(target.array) or []:
        name = item.get(target.key) if isinstance(item, dict) else None
        if isinstance(name, str) and name in wanted:
            if name in placed:
                continue  # a duplicate of an entry already placed
            item = wanted[name]
            placed.add(name)
        items.append(item)
    data[target.array] = items + [e for name, e in wanted.items() if name not in placed]
    return _render(data, "", "\t", nl) + nl


def _render(value: Any, indent: str, unit: str, nl: str, note: str | None = None) -> str:
    """``value`` as JSON laid out like VS Code's files; lists of plain values stay on one line.

    >>> print(_render({"args": ["up"], "options": {"cwd": "."}}, "", "  ", "\\n", note="hi"))
    {
      // hi
      "args": ["up"],
      "options": {
        "cwd": "."
      }
    }
    """
    inner = indent + unit
    if isinstance(value, dict) and value:
        head = f"{inner}// {note}{nl}" if note else ""
        body = f",{nl}".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {_render(v, inner, unit, nl)}" for k, v in value.items())
        return "{" + nl + head + body + nl + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[" + nl + f",{nl}".join(inner + _render(v, inner, unit, nl) for v in value) + nl + indent + "]"
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _line_indent(text: str, pos: int) -> str:
    """The spaces and tabs that start the line holding ``pos``."""
    start = text.rfind("\n", 0, pos) + 1
    end = start
    while end < pos and text[end] in " \t":
        end += 1
    return text[start:end]


def _starts_line(text: str, pos: int) -> bool:
    start = text.rfind("\n", 0, pos) + 1
    return text[start:pos].strip(" \t") == ""


def _indent_unit(text: str, root: Node) -> str:
    """One level of the file's indentation: its first key on a line of its own says, else its
    first indented line, else a tab (VS Code's own choice)."""
    outer = _line_indent(text, root.start)
    for member in root.members or ():
        if _starts_line(text, member.at):
            indent = _line_indent(text, member.at)
            if len(indent) > len(outer) and indent.startswith(outer):
                return indent[len(outer):]
    m = re.search(r"^([ \t]+)\S", text, re.MULTILINE)
    return m.group(1) if m else "\t"
