"""Grouping SDK items by resource and scope, and the encoded envelopes around each group.

Every OTLP request nests items the same way: ``Resource<Signal>`` (resource 1, scope groups 2,
schema_url 3) holding ``Scope<Signal>`` (scope 1, items 2, schema_url 3). The encoded resource
and scope headers depend only on the (immutable) SDK ``Resource`` and ``InstrumentationScope``
objects, so they are built once per object and reused from batch to batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

from otlpy.wire.protobuf_writer import field_bytes, tag, varint
from otlpy.wire.sdk_attributes import resource_block, scope_block

__all__ = ["EnvelopeCache", "envelopes", "group_by_resource_and_scope"]

T = TypeVar("T")

_FIRST: Final = tag(1, 2)  # Resource<Signal>.resource / Scope<Signal>.scope
_SECOND: Final = tag(2, 2)  # Resource<Signal>.scope_<signal>s / Scope<Signal>.<items>
_SCHEMA_URL: Final = tag(3, 2)
_CACHE_LIMIT: Final = 256


def group_by_resource_and_scope(
    items: Iterable[T], resource_and_scope: Callable[[T], tuple[Any, Any]]
) -> list[tuple[Any, list[tuple[Any, list[T]]]]]:
    """Items grouped by resource, then by scope, each in order of first appearance.

    ``resource_and_scope(item)`` gives an item's two objects. Groups are dicts keyed by the SDK
    objects themselves, as in the official encoder, so objects that hash alike and compare equal
    share a group (and only those: ``Resource({"a": 0})`` equals ``Resource({"a": False})`` but
    hashes differently, and encodes differently). Hashing a ``Resource`` is slow, so it happens
    once per new pair of objects: items of one batch share a few, and later items find their
    group by object identity.
    """
    groups: dict[Any, dict[Any, list[T]]] = {}
    by_identity: dict[tuple[int, int], list[T]] = {}
    last_resource = last_scope = members = None
    for item in items:
        resource, scope = resource_and_scope(item)
        if resource is not last_resource or scope is not last_scope or members is None:
            # the items keep their resource and scope alive, so the ids stay theirs
            key = (id(resource), id(scope))
            members = by_identity.get(key)
            if members is None:
                scopes = groups.setdefault(resource, {})
                members = by_identity[key] = scopes.setdefault(scope or None, [])
            last_resource, last_scope = resource, scope
        members.append(item)
    return [(resource, list(scopes.items())) for resource, scopes in groups.items()]


class EnvelopeCache:
    """Encoded headers of resource and scope groups, per SDK object (bounded)."""

    __slots__ = ("_resources", "_scopes")

    def __init__(self) -> None:
        # id -> (object, encoded): the object is kept so its id cannot be reused while cached
        self._resources: dict[int, tuple[Any, bytes, bytes]] = {}
        self._scopes: dict[int, tuple[Any, bytes, bytes]] = {}

    def _resource_parts(self, resource: Any) -> tuple[bytes, bytes]:
        entry = self._resources.get(id(resource))
        if entry is None or entry[0] is not resource:
            head = field_bytes(_FIRST, resource_block(resource))
            url = resource.schema_url
            tail = field_bytes(_SCHEMA_URL, url.encode()) if url else b""
            if len(self._resources) >= _CACHE_LIMIT:
                self._resources.clear()
            self._resources[id(resource)] = entry = (resource, head, tail)
        return entry[1], entry[2]

    def _scope_parts(self, scope: Any) -> tuple[bytes, bytes]:
        entry = self._scopes.get(id(scope))
        if entry is None or entry[0] is not scope:
            head = field_bytes(_FIRST, scope_block(scope))
            url = scope.schema_url if scope is not None else None
            tail = field_bytes(_SCHEMA_URL, url.encode()) if url else b""
            if len(self._scopes) >= _CACHE_LIMIT:
                self._scopes.clear()
            self._scopes[id(scope)] = entry = (scope, head, tail)
        return entry[1], entry[2]

    def scope_group(self, scope: Any, items: list[bytes], out: list[bytes]) -> int:
        """Append a ``Scope<Signal>`` field (header, the encoded ``items``, schema URL) to ``out``.

        Returns its size. The pieces are appended, not joined: the request is joined once, at
        the end, instead of copying every level of nesting.
        """
        head, tail = self._scope_parts(scope)
        size = len(head) + sum(map(len, items)) + len(tail)
        prefix = _SECOND + varint(size)
        out.append(prefix)
        out.append(head)
        out += items
        out.append(tail)
        return len(prefix) + size

    def resource_group(self, resource: Any, scope_groups: list[bytes], size: int) -> list[bytes]:
        """The pieces of a ``Resource<Signal>`` field around ``scope_groups`` (``size`` bytes)."""
        head, tail = self._resource_parts(resource)
        return [_FIRST + varint(len(head) + size + len(tail)), head, *scope_groups, tail]


envelopes: Final = EnvelopeCache()
