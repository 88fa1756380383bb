"""The standard OTTL editors: the functions that change telemetry (``set``, ``delete_key``...)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from otlpy.ottl.contexts.common import GetSetter, Getter, TransformContext, as_map_statement
from otlpy.ottl.functions.goregex import GoRegex, compile_glob, compile_go
from otlpy.ottl.functions.spec import Param, editor
from otlpy.ottl.fusion import render, with_source
from otlpy.ottl.values import (
    KeyIndex,
    OttlError,
    PMap,
    PSlice,
    any_to_py,
    as_string,
    set_any,
    to_python,
    type_name,
)

__all__ = ["truncation"]

Run = Callable[[TransformContext], None]
Fn = Callable[[Any], Any] | None


def _regex(pattern: str) -> GoRegex:
    try:
        return compile_go(pattern)
    except ValueError as exc:
        raise OttlError(str(exc)) from None


def _with_map(target: GetSetter, ctx: TransformContext, change: Callable[[PMap], None]) -> None:
    """Apply ``change`` to the map at ``target``: in place for telemetry, written back for a
    map that is not a live view."""
    value = target.get(ctx)
    if isinstance(value, PMap):
        change(value)
        return
    if isinstance(value, dict):
        live = PMap.new()
        live.replace(value)
        change(live)
        target.set(ctx, live)
        return
    raise OttlError(f"expected pcommon.Map but got {type_name(value)}")


@editor("set", Param("target", "getsetter"), Param("value", "any"))
def _set(target: GetSetter, value: Getter) -> Run:
    setter = target.set
    constant = getattr(value, "ottl_constant", None)
    if constant is not None:
        literal = constant[0]
        if literal is None:
            return lambda ctx: None  # setting nil changes nothing
        if target.literal is not None:
            store = target.literal(literal)
            if store is not None:
                return store
        if isinstance(literal, str | int | float | bool):

            def run_literal(ctx: TransformContext) -> None:
                setter(ctx, literal)

            return run_literal

    def run(ctx: TransformContext) -> None:
        v = value(ctx)
        # like the Collector, setting nil is a no-op
        if v is not None:
            setter(ctx, v)

    return run


@editor("delete_key", Param("target", "getsetter"), Param("key", "lit_str"))
def _delete_key(target: GetSetter, key: str) -> Run:
    get = target.get

    def remove(m: PMap) -> None:
        m.remove(key)

    index_of = target.index
    if index_of is not None:

        def run_indexed(ctx: TransformContext) -> None:
            index = index_of(ctx)
            if key in index.keys:
                index.delete(index.keys.index(key))

        if target.map_id is None:
            return run_indexed

        def delete_op(ctx: TransformContext, index: KeyIndex) -> None:
            if key in index.keys:
                index.delete(index.keys.index(key))

        source = render(
            "if {key} in keys:\n"
            "    i = keys.index({key})\n"
            "    del kvs[i]\n"
            "    del entries[i]\n"
            "    del keys[i]\n",
            {"key": key},
        )
        return as_map_statement(
            run_indexed, target.map_id, index_of, with_source(delete_op, source)
        )

    def run(ctx: TransformContext) -> None:
        value = get(ctx)
        if isinstance(value, PMap):
            value.remove(key)
        else:
            _with_map(target, ctx, remove)

    return run


@editor("delete_matching_keys", Param("target", "getsetter"), Param("pattern", "lit_str"))
def _delete_matching_keys(target: GetSetter, pattern: str) -> Run:
    regex = _regex(pattern)

    def change(m: PMap) -> None:
        m.remove_if(lambda k, _v: regex.search(k) is not None)

    return lambda ctx: _with_map(target, ctx, change)


@editor("keep_matching_keys", Param("target", "getsetter"), Param("pattern", "lit_str"))
def _keep_matching_keys(target: GetSetter, pattern: str) -> Run:
    regex = _regex(pattern)
    return lambda ctx: _with_map(
        target, ctx, lambda m: m.remove_if(lambda k, _v: regex.search(k) is None)
    )


@editor("keep_keys", Param("target", "getsetter"), Param("keys", "lit_list_str"))
def _keep_keys(target: GetSetter, keys: list[str]) -> Run:
    keep = set(keys)
    return lambda ctx: _with_map(target, ctx, lambda m: m.remove_if(lambda k, _v: k not in keep))


@editor(
    "limit",
    Param("target", "getsetter"),
    Param("limit", "lit_int"),
    Param("priority_keys", "lit_list_str"),
)
def _limit(target: GetSetter, limit: int, priority_keys: list[str]) -> Run:
    if limit < 0:
        raise OttlError(f"invalid limit for limit function, {limit} cannot be negative")
    if len(priority_keys) > limit:
        raise OttlError(
            f"invalid limit for limit function, {limit} cannot be less than number of "
            f"priority attributes {len(priority_keys)}"
        )
    keep = set(priority_keys)

    def change(m: PMap) -> None:
        if len(m) <= limit:
            return
        count = sum(1 for k in keep if k in m)

        def drop(key: str, _value: Any) -> bool:
            nonlocal count
            if key in keep:
                return False
            if count < limit:
                count += 1
                return False
            return True

        m.remove_if(drop)

    return lambda ctx: _with_map(target, ctx, change)


@editor(
    "merge_maps",
    Param("target", "getsetter"),
    Param("source", "map"),
    Param("strategy", "lit_str"),
)
def _merge_maps(target: GetSetter, source: Getter, strategy: str) -> Run:
    if strategy not in ("insert", "update", "upsert"):
        raise OttlError(f"invalid value for strategy, {strategy}, must be insert, update or upsert")

    def run(ctx: TransformContext) -> None:
        items = to_python(source(ctx))

        def change(m: PMap) -> None:
            for key, value in items.items():
                present = key in m
                if (
                    strategy == "upsert"
                    or (strategy == "insert" and not present)
                    or (strategy == "update" and present)
                ):
                    m.put(key, value)

        _with_map(target, ctx, change)

    return run


def _apply_function(
    regex: GoRegex,
    fn: Callable[[Any], Any],
    original: str,
    template: str,
    fmt: Getter | None,
    ctx: TransformContext,
) -> str:
    updated = original
    for match in list(regex.regex.finditer(original)):
        full = match.group()
        replacement = fn(regex.expand(template, match))
        if not isinstance(replacement, str):
            raise OttlError("replacement value is not a string")
        if fmt is not None:
            replacement = _format(fmt(ctx), replacement)
        updated = updated.replace(full, replacement)
    return updated


def _format(fmt: Any, value: str) -> str:
    if not isinstance(fmt, str):
        raise OttlError(f"expected string but got {type_name(fmt)}")
    if fmt.count("%s") != 1 or fmt.replace("%s", "").count("%") - 2 * fmt.count("%%") > 0:
        raise OttlError(f"replacementFormat {fmt!r} must contain exactly one %s")
    return fmt.replace("%s", value, 1).replace("%%", "%")


@editor(
    "replace_pattern",
    Param("target", "getsetter"),
    Param("regex", "lit_str"),
    Param("replacement", "str"),
    Param("function", "func", optional=True),
    Param("replacement_format", "str", optional=True),
)
def _replace_pattern(
    target: GetSetter, pattern: str, replacement: Getter, fn: Fn, fmt: Getter | None
) -> Run:
    regex = _regex(pattern)
    get = target.get
    setter = target.set
    search = regex.regex.search
    ref = target.ref
    if ref is not None and fn is None:
        replace_count = regex.replace_all_count
        constant = getattr(replacement, "ottl_constant", None)
        if constant is not None and "$" not in constant[0]:
            literal = constant[0].replace("\\", "\\\\")
            subn = regex.regex.subn

            def run_literal(ctx: TransformContext) -> None:
                held = ref(ctx)
                if held is None:
                    return
                value = held.string_value
                if not value and held.WhichOneof("value") != "string_value":
                    return
                replaced, count = subn(literal, value)
                if count:
                    held.string_value = replaced

            name = target.key
            owner_index = target.owner_index
            if target.map_id is None or name is None or owner_index is None:
                return run_literal

            def replace_op(ctx: TransformContext, index: KeyIndex) -> None:
                keys = index.keys
                if name not in keys:
                    return
                held = index.entry(keys.index(name)).value
                value = held.string_value
                if not value and held.WhichOneof("value") != "string_value":
                    return
                replaced, count = subn(literal, value)
                if count:
                    held.string_value = replaced

            source = render(
                "if {key} in keys:\n"
                "    i = keys.index({key})\n"
                "    kv = entries[i]\n"
                "    if kv.__class__ is int:\n"  # not read yet (KeyIndex.entry)
                "        kv = entries[i] = kvs[i]\n"
                "    held = kv.value\n"
                "    text = held.string_value\n"
                '    if text or held.WhichOneof("value") == "string_value":\n'
                "        replaced, count = {subn}({literal}, text)\n"
                "        if count:\n"
                "            held.string_value = replaced\n",
                {"key": name, "subn": subn, "literal": literal},
            )
            return as_map_statement(
                run_literal, target.map_id, owner_index, with_source(replace_op, source)
            )

        def run_in_place(ctx: TransformContext) -> None:
            template = replacement(ctx)
            held = ref(ctx)
            if held is None:
                return
            value = held.string_value
            # string_value is "" for other types: only an empty text needs the type check
            if not value and held.WhichOneof("value") != "string_value":
                return
            replaced, count = replace_count(value, template)
            if count:
                held.string_value = replaced

        return run_in_place

    def run(ctx: TransformContext) -> None:
        value = get(ctx)
        if type(value) is not str:
            return
        template = replacement(ctx)
        if search(value) is None:
            return
        if fn is not None:
            setter(ctx, _apply_function(regex, fn, value, template, fmt, ctx))
        else:
            setter(ctx, regex.replace_all(value, template))

    return run


@editor(
    "replace_all_patterns",
    Param("target", "getsetter"),
    Param("mode", "lit_str"),
    Param("regex", "lit_str"),
    Param("replacement", "str"),
    Param("function", "func", optional=True),
    Param("replacement_format", "str", optional=True),
)
def _replace_all_patterns(
    target: GetSetter, mode: str, pattern: str, replacement: Getter, fn: Fn, fmt: Getter | None
) -> Run:
    if mode not in ("key", "value"):
        raise OttlError(f"invalid mode {mode}, must be either 'key' or 'value'")
    regex = _regex(pattern)

    def rewrite(text: str, template: str, ctx: TransformContext) -> str:
        if fn is not None:
            return _apply_function(regex, fn, text, template, fmt, ctx)
        return regex.replace_all(text, template)

    def run(ctx: TransformContext) -> None:
        template = replacement(ctx)

        def change(m: PMap) -> None:
            if mode == "value":
                for _key, raw in m.raw_items():
                    if raw.WhichOneof("value") == "string_value" and regex.search(raw.string_value):
                        raw.string_value = rewrite(raw.string_value, template, ctx)
                return
            entries = [(k, to_python(any_to_py(v))) for k, v in m.raw_items()]
            renamed: dict[str, Any] = {}
            for key, value in entries:
                new_key = rewrite(key, template, ctx) if regex.search(key) else key
                renamed[new_key] = value
            m.replace(renamed)

        _with_map(target, ctx, change)

    return run


def _glob(pattern: str) -> re.Pattern[str]:
    try:
        return compile_glob(pattern)
    except ValueError as exc:
        raise OttlError(str(exc)) from None


def _replacement_value(fn: Fn, fmt: Getter | None, template: str, ctx: TransformContext) -> str:
    if fn is None:
        return template
    value = fn(template)
    if not isinstance(value, str):
        raise OttlError("replacement value is not a string")
    return _format(fmt(ctx), value) if fmt is not None else value


@editor(
    "replace_match",
    Param("target", "getsetter"),
    Param("pattern", "lit_str"),
    Param("replacement", "str"),
    Param("function", "func", optional=True),
    Param("replacement_format", "str", optional=True),
)
def _replace_match(
    target: GetSetter, pattern: str, replacement: Getter, fn: Fn, fmt: Getter | None
) -> Run:
    glob = _glob(pattern)

    def run(ctx: TransformContext) -> None:
        value = target.get(ctx)
        template = replacement(ctx)
        if type(value) is str and glob.match(value):
            target.set(ctx, _replacement_value(fn, fmt, template, ctx))

    return run


@editor(
    "replace_all_matches",
    Param("target", "getsetter"),
    Param("pattern", "lit_str"),
    Param("replacement", "str"),
    Param("function", "func", optional=True),
    Param("replacement_format", "str", optional=True),
)
def _replace_all_matches(
    target: GetSetter, pattern: str, replacement: Getter, fn: Fn, fmt: Getter | None
) -> Run:
    glob = _glob(pattern)

    def run(ctx: TransformContext) -> None:
        template = replacement(ctx)

        def change(m: PMap) -> None:
            for _key, raw in m.raw_items():
                if raw.WhichOneof("value") == "string_value" and glob.match(raw.string_value):
                    raw.string_value = _replacement_value(fn, fmt, template, ctx)

        _with_map(target, ctx, change)

    return run


def truncation(
    limit: int, utf8_safe: bool | None, marker: str | None
) -> Callable[[str], str | None]:
    """``truncate_all``'s cut of one string: the text to store, or None when it fits."""
    if limit < 0:
        raise OttlError(f"invalid limit for truncate_all function, {limit} cannot be negative")
    marker = marker or ""
    safe = True if utf8_safe is None else utf8_safe
    marker_bytes = marker.encode()
    if len(marker_bytes) > limit:
        raise OttlError(f"truncation_marker {marker!r} is longer than the limit {limit}")
    keep = limit - len(marker_bytes)

    def cut(text: str) -> str | None:
        if len(text) <= limit and (text.isascii() or len(text.encode()) <= limit):
            return None
        data = text.encode()
        if len(data) <= limit:
            return None
        head = data[:keep]
        if safe:
            return head.decode(errors="ignore") + marker
        return head.decode(errors="replace") + marker

    return cut


@editor(
    "truncate_all",
    Param("target", "getsetter"),
    Param("limit", "lit_int"),
    Param("utf8_safe", "lit_bool", optional=True),
    Param("truncation_marker", "lit_str", optional=True),
)
def _truncate_all(target: GetSetter, limit: int, utf8_safe: bool | None, marker: str | None) -> Run:
    cut = truncation(limit, utf8_safe, marker)
    marker = marker or ""
    keep = limit - len(marker.encode())

    quick = limit // 4  # no UTF-8 string of at most this many characters can be too long

    def change(m: PMap) -> None:
        for kv in m.entries():
            raw = kv.value
            # string_value is "" for other types, so one read both filters and measures
            text = raw.string_value
            if len(text) > quick:
                short = cut(text)
                if short is not None:
                    raw.string_value = short

    get = target.get
    index_of = target.index
    if index_of is not None:

        def truncate_op(ctx: TransformContext, index: KeyIndex) -> None:
            entries = index.entries
            for i, entry in enumerate(entries):
                kv = entry
                if kv.__class__ is int:
                    # not read yet: the byte length of its string (-1 for other values)
                    if kv <= limit:
                        continue
                    kv = entries[i] = index.kvs[i]
                raw = kv.value
                text = raw.string_value
                size = len(text)
                # an ASCII text is as long in bytes as in characters: most need no encoding
                if size > quick and (size > limit or not text.isascii()):
                    short = cut(text)
                    if short is not None:
                        raw.string_value = short

        def run_indexed(ctx: TransformContext) -> None:
            truncate_op(ctx, index_of(ctx))

        # it reads every value's length: an index read from the item's bytes has them
        truncate_op.ottl_uses_lengths = True  # type: ignore[attr-defined]

        if target.map_id is None:
            return run_indexed
        source = render(
            "for i, kv in enumerate(entries):\n"
            "    if kv.__class__ is int:\n"
            # not read yet (KeyIndex.scanned): the byte length of its string, -1 for others
            "        if kv <= {limit}:\n"
            "            continue\n"
            "        kv = entries[i] = kvs[i]\n"
            "    held = kv.value\n"
            "    text = held.string_value\n"
            "    size = len(text)\n"
            "    if size > {quick}:\n"
            "        if text.isascii():\n"
            # as many bytes as characters: cut without encoding
            "            if size > {limit}:\n"
            "                held.string_value = text[:{keep}] + {marker}\n"
            "        else:\n"
            "            short = {cut}(text)\n"
            "            if short is not None:\n"
            "                held.string_value = short\n",
            {"quick": quick, "limit": limit, "keep": keep, "marker": marker, "cut": cut},
        )
        return as_map_statement(
            run_indexed, target.map_id, index_of, with_source(truncate_op, source)
        )

    def run(ctx: TransformContext) -> None:
        value = get(ctx)
        if isinstance(value, PMap):
            change(value)
        else:
            _with_map(target, ctx, change)

    return run


@editor(
    "flatten",
    Param("target", "getsetter"),
    Param("prefix", "lit_str", optional=True),
    Param("depth", "lit_int", optional=True),
    Param("resolve_conflicts", "lit_bool", optional=True),
)
def _flatten(target: GetSetter, prefix: str | None, depth: int | None, resolve: bool | None) -> Run:
    max_depth = 2**63 - 1 if depth is None else depth
    if max_depth < 0:
        raise OttlError(f"invalid depth for flatten function, {depth} cannot be negative")
    start = prefix or ""

    def flat(items: dict[str, Any], pre: str, level: int, out: dict[str, Any]) -> None:
        if pre:
            pre += "."
        for key, value in items.items():
            name = pre + key
            if isinstance(value, dict) and level < max_depth:
                flat(value, name, level + 1, out)
            elif isinstance(value, list) and level < max_depth:
                flat_list(value, name, level + 1, out)
            else:
                out[name] = value

    def flat_list(items: list[Any], name: str, level: int, out: dict[str, Any]) -> None:
        for i, value in enumerate(items):
            key = f"{name}.{i}"
            if isinstance(value, dict) and level < max_depth:
                flat(value, key, level + 1, out)
            elif isinstance(value, list) and level < max_depth:
                flat_list(value, key, level + 1, out)
            else:
                out[key] = value

    def resolved(items: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        counters: dict[str, int] = {}

        def put(key: str, value: Any) -> None:
            if key in out:
                n = counters.get(key, 0)
                while f"{key}.{n}" in out:
                    n += 1
                counters[key] = n + 1
                key = f"{key}.{n}"
            out[key] = value

        def walk(value: Any, name: str, level: int) -> None:
            if isinstance(value, dict) and level < max_depth:
                for key, item in value.items():
                    walk(item, f"{name}.{key}" if name else key, level + 1)
            elif isinstance(value, list) and level < max_depth:
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        walk(item, f"{name}.{i}", level + 1)
                    else:
                        walk(item, name, level + 1)
            else:
                put(name, value)

        for key, item in items.items():
            walk(item, f"{start}.{key}" if start else key, 0)
        return out

    def change(m: PMap) -> None:
        items = m.to_dict()
        if resolve:
            m.replace(resolved(items))
        else:
            out: dict[str, Any] = {}
            flat(items, start, 0, out)
            m.replace(out)

    return lambda ctx: _with_map(target, ctx, change)


@editor(
    "append",
    Param("target", "getsetter"),
    Param("value", "any", optional=True),
    Param("values", "list:any", optional=True),
)
def _append(target: GetSetter, value: Getter | None, values: list[Getter] | None) -> Run:
    if value is None and values is None:
        raise OttlError(
            "at least one of the optional arguments ('value' or 'values') must be provided"
        )

    def run(ctx: TransformContext) -> None:
        current = target.get(ctx)
        if current is None:
            result: list[Any] = []
        elif isinstance(current, PSlice | list):
            result = list(to_python(current))
        else:
            result = [to_python(current)]
        if value is not None:
            result.append(to_python(value(ctx)))
        if values is not None:
            result.extend(to_python(g(ctx)) for g in values)
        target.set(ctx, result)

    return run


@editor(
    "delete_index",
    Param("target", "getsetter"),
    Param("start_index", "int"),
    Param("end_index", "int", optional=True),
)
def _delete_index(target: GetSetter, start: Getter, end: Getter | None) -> Run:
    def run(ctx: TransformContext) -> None:
        current = target.get(ctx)
        if not isinstance(current, PSlice | list):
            raise OttlError(f"target must be a slice but got {type_name(current)}")
        items = to_python(current)
        first = start(ctx)
        last = first + 1 if end is None else end(ctx)
        if first < 0 or first >= len(items):
            raise OttlError(f"startIndex {first} out of bounds for slice of length {len(items)}")
        if last < first or last > len(items):
            raise OttlError(f"endIndex {last} out of bounds for slice of length {len(items)}")
        if first == last:
            return
        del items[first:last]
        if isinstance(current, PSlice):
            values = current.values
            del values[:]
            for item in items:
                set_any(values.add(), item)
        else:
            target.set(ctx, items)

    return run


@editor("stringify_all", Param("target", "getsetter"))
def _stringify_all(target: GetSetter) -> Run:
    def change(m: PMap) -> None:
        for _key, raw in m.raw_items():
            if raw.WhichOneof("value") != "string_value":
                raw.string_value = as_string(any_to_py(raw))

    return lambda ctx: _with_map(target, ctx, change)
