"""XML converters (``ParseXML``, ``GetXML``, ``InsertXML``...) on ``xml.etree`` with the XPath
subset they need: absolute and ``//`` steps, ``*``, ``.``/``..``, ``text()``, ``@name``, and
predicates ``[n]``, ``[@a]``, ``[@a='v']``, ``[name='v']``, ``[contains(text(), 'v')]``.

Documents may be fragments with several top-level elements, as the Collector accepts.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from otlpy.ottl.contexts.common import Getter, TransformContext
from otlpy.ottl.functions.spec import Param, converter
from otlpy.ottl.values import OttlError

__all__: list[str] = []

Run = Callable[[TransformContext], Any]
_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_ROOT = "otlpy-xml-document"
_MAX_DEPTH = 10_000


class _Doc:
    """A parsed document: a synthetic root holding the top-level nodes."""

    __slots__ = ("decl", "parents", "root")

    def __init__(self, text: str) -> None:
        m = _DECL.match(text)
        self.decl = m.group() if m else ""
        body = text[m.end() :] if m else text
        try:
            self.root = ET.fromstring(f"<{_ROOT}>{body}</{_ROOT}>")  # noqa: S314
        except ET.ParseError as exc:
            raise OttlError(f"cannot parse XML: {exc}") from None
        self.parents: dict[ET.Element, ET.Element] = {}
        self.reindex()

    def reindex(self) -> None:
        self.parents = {child: parent for parent in self.root.iter() for child in parent}

    def text(self) -> str:
        out = [self.decl, self.root.text or ""]
        out.extend(_serialize(child) for child in self.root)
        return "".join(out)


def _serialize(el: ET.Element, tail: bool = True) -> str:
    text = ET.tostring(el, encoding="unicode", short_empty_elements=False)
    if not tail and el.tail:
        text = text[: len(text) - len(el.tail)]
    return text


def _doc(value: Any) -> _Doc:
    if not isinstance(value, str):
        raise OttlError(f"expected an XML string but got {type(value).__name__}")
    return _Doc(value)


# -- XPath subset ----------------------------------------------------------------------------

Node = tuple[str, ET.Element, str]  # ("el" | "attr" | "text", element, attribute name)
_STEP = re.compile(r"(?P<test>[^\[\]]+)(?P<preds>(?:\[[^\]]*\])*)")
_PRED = re.compile(r"\[([^\]]*)\]")


def _split(xpath: str) -> list[tuple[bool, str]]:
    """Steps of an absolute path: (descendant?, step text)."""
    if not xpath.startswith("/"):
        xpath = "/" + xpath
    steps: list[tuple[bool, str]] = []
    i = 0
    while i < len(xpath):
        descendant = xpath.startswith("//", i)
        i += 2 if descendant else 1
        depth = 0
        start = i
        while i < len(xpath) and (xpath[i] != "/" or depth):
            if xpath[i] == "[":
                depth += 1
            elif xpath[i] == "]":
                depth -= 1
            i += 1
        step = xpath[start:i]
        if step:
            steps.append((descendant, step))
        elif descendant:
            raise OttlError(f"invalid xpath {xpath!r}")
    return steps


def _predicate(pred: str, nodes: list[ET.Element]) -> list[ET.Element]:
    pred = pred.strip()
    if pred.isdigit():
        index = int(pred) - 1
        return [nodes[index]] if 0 <= index < len(nodes) else []
    if pred == "last()":
        return nodes[-1:]
    m = re.fullmatch(r"@([\w.:-]+)\s*(?:=\s*(['\"])(.*)\2)?", pred)
    if m:
        name, _, value = m.groups()
        if value is None:
            return [n for n in nodes if name in n.attrib]
        return [n for n in nodes if n.attrib.get(name) == value]
    m = re.fullmatch(r"contains\(\s*text\(\)\s*,\s*(['\"])(.*)\1\s*\)", pred)
    if m:
        return [n for n in nodes if m.group(2) in (n.text or "")]
    m = re.fullmatch(r"([\w.:-]+)\s*=\s*(['\"])(.*)\2", pred)
    if m:
        name, _, value = m.groups()
        return [n for n in nodes if any((c.text or "") == value for c in n.findall(name))]
    m = re.fullmatch(r"\./([\w.:-]+)/@([\w.:-]+)\s*=\s*(['\"])(.*)\3", pred)
    if m:
        child, attr, _, value = m.groups()
        return [n for n in nodes if any(c.attrib.get(attr) == value for c in n.findall(child))]
    raise OttlError(f"unsupported xpath predicate [{pred}]")


def select(doc: _Doc, xpath: str) -> list[Node]:
    """The nodes ``xpath`` selects in ``doc``."""
    if xpath.strip() == "/":
        return [("el", doc.root, "")]
    current: list[ET.Element] = [doc.root]
    steps = _split(xpath.strip())
    for position, (descendant, step) in enumerate(steps):
        last = position == len(steps) - 1
        m = _STEP.fullmatch(step.strip())
        if m is None:
            raise OttlError(f"invalid xpath step {step!r}")
        test = m.group("test").strip()
        preds = _PRED.findall(m.group("preds"))
        if test == "text()" or test.startswith("@"):
            if not last or preds:
                raise OttlError(f"unsupported xpath {xpath!r}")
            scope = [d for c in current for d in c.iter()] if descendant else current
            if test == "text()":
                return [("text", el, "") for el in scope if el.text and el is not doc.root]
            name = test[1:]
            return [
                ("attr", el, attr)
                for el in scope
                for attr in list(el.attrib)
                if name in ("*", attr)
            ]
        if test in ("node()", "comment()"):
            raise OttlError(f"unsupported xpath node test {test}")
        found: list[ET.Element] = []
        seen: set[int] = set()
        for context in current:
            if test == ".":
                candidates = [context]
            elif test == "..":
                parent = doc.parents.get(context)
                candidates = [parent] if parent is not None else []
            elif descendant:
                candidates = [d for d in context.iter() if d is not context]
                candidates = [d for d in candidates if test in ("*", d.tag)]
            else:
                candidates = [c for c in context if test in ("*", c.tag)]
            for pred in preds:
                candidates = _predicate(pred, candidates)
            for c in candidates:
                if id(c) not in seen:
                    seen.add(id(c))
                    found.append(c)
        current = found
    return [("el", el, "") for el in current]


def _xpath_arg(xpath: str) -> str:
    if not xpath:
        raise OttlError("xpath cannot be empty")
    _split(xpath)
    return xpath


# -- converters ------------------------------------------------------------------------------


@converter("GetXML", Param("target", "str"), Param("xpath", "lit_str"))
def _get_xml(target: Getter, xpath: str) -> Run:
    _xpath_arg(xpath)

    def run(ctx: TransformContext) -> Any:
        doc = _doc(target(ctx))
        out = []
        for kind, el, name in select(doc, xpath):
            if kind == "el":
                out.append(doc.text() if el is doc.root else _serialize(el, tail=False))
            elif kind == "attr":
                out.append(el.attrib[name])
            else:
                out.append(el.text or "")
        return "".join(out)

    return run


@converter("InsertXML", Param("target", "str"), Param("xpath", "lit_str"), Param("value", "str"))
def _insert_xml(target: Getter, xpath: str, value: Getter) -> Run:
    _xpath_arg(xpath)

    def run(ctx: TransformContext) -> Any:
        doc = _doc(target(ctx))
        insert = _doc(value(ctx))
        for kind, el, _ in select(doc, xpath):
            if kind != "el":
                continue
            for child in insert.root:
                el.append(ET.fromstring(_serialize(child, tail=False)))  # noqa: S314
        return doc.text()

    return run


@converter("RemoveXML", Param("target", "str"), Param("xpath", "lit_str"))
def _remove_xml(target: Getter, xpath: str) -> Run:
    _xpath_arg(xpath)

    def run(ctx: TransformContext) -> Any:
        doc = _doc(target(ctx))
        for kind, el, name in select(doc, xpath):
            if kind == "attr":
                el.attrib.pop(name, None)
            elif kind == "text":
                el.text = None
            elif el is not doc.root:
                parent = doc.parents[el]
                index = list(parent).index(el)
                if el.tail:
                    # keep the text that followed the removed element
                    if index:
                        previous = parent[index - 1]
                        previous.tail = (previous.tail or "") + el.tail
                    else:
                        parent.text = (parent.text or "") + el.tail
                parent.remove(el)
        return doc.text()

    return run


def _convert_attributes(el: ET.Element) -> None:
    for child in list(el):
        _convert_attributes(child)
    if el.attrib:
        for name, value in list(el.attrib.items()):
            child = ET.SubElement(el, name)
            child.text = value
        el.attrib.clear()


@converter(
    "ConvertAttributesToElementsXML",
    Param("target", "str"),
    Param("xpath", "lit_str", optional=True),
)
def _convert_attributes_xml(target: Getter, xpath: str | None) -> Run:
    path = xpath or "//*"
    _xpath_arg(path)

    def run(ctx: TransformContext) -> Any:
        doc = _doc(target(ctx))
        for kind, el, _ in select(doc, path):
            if kind == "el":
                _convert_attributes(el)
        return doc.text()

    return run


def _wrap_text(el: ET.Element, name: str, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise OttlError("XML nesting is too deep")
    children = list(el)
    for child in children:
        _wrap_text(child, name, depth + 1)
    if not children:
        return
    if el.text and el.text.strip():
        wrapper = ET.Element(name)
        wrapper.text = el.text
        el.text = None
        el.insert(0, wrapper)
    for child in children:
        if child.tail and child.tail.strip():
            wrapper = ET.Element(name)
            wrapper.text = child.tail
            child.tail = None
            el.insert(list(el).index(child) + 1, wrapper)


@converter(
    "ConvertTextToElementsXML",
    Param("target", "str"),
    Param("xpath", "lit_str", optional=True),
    Param("element_name", "lit_str", optional=True),
)
def _convert_text_xml(target: Getter, xpath: str | None, element_name: str | None) -> Run:
    path = xpath or "/"
    name = element_name or "value"
    _xpath_arg(path)

    def run(ctx: TransformContext) -> Any:
        doc = _doc(target(ctx))
        for kind, el, _ in select(doc, path):
            if kind != "el":
                continue
            if el is doc.root:
                for child in el:
                    _wrap_text(child, name)
            else:
                _wrap_text(el, name)
        return doc.text()

    return run


def _parse_xml_element(el: ET.Element, depth: int = 0) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise OttlError("XML nesting is too deep")
    out: dict[str, Any] = {"tag": el.tag.strip()}
    if el.attrib:
        out["attributes"] = dict(el.attrib)
    texts = [el.text or ""] + [c.tail or "" for c in el]
    content = "".join(t.strip() for t in texts)
    if content:
        out["content"] = content
    if len(el):
        out["children"] = [_parse_xml_element(c, depth + 1) for c in el]
    return out


@converter("ParseXML", Param("target", "str"))
def _parse_xml(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        doc = _doc(target(ctx))
        tops = list(doc.root)
        if len(tops) != 1:
            raise OttlError("ParseXML expects exactly one root element")
        return _parse_xml_element(tops[0])

    return run


def _simplified(el: ET.Element, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise OttlError("XML nesting is too deep")
    children = list(el)
    if not children:
        text = (el.text or "").strip()
        return text if text else None
    out: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for child in children:
        seen[child.tag] = seen.get(child.tag, 0) + 1
    for child in children:
        value = _simplified(child, depth + 1)
        if seen[child.tag] > 1:
            items = out.setdefault(child.tag, [])
            if value is not None:
                items.append(value)
        elif value is not None:
            out[child.tag] = value
    return out


@converter("ParseSimplifiedXML", Param("target", "str"))
def _parse_simplified_xml(target: Getter) -> Run:
    def run(ctx: TransformContext) -> Any:
        doc = _doc(target(ctx))
        result = _simplified(doc.root)
        return result if isinstance(result, dict) else {}

    return run
