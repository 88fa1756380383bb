"""The serialized records of a serialized export request, found without decoding it.

Traces and logs nest alike: the request's field 1 holds resource blocks, whose field 2 holds
scope blocks, whose field 2 holds the records (spans or log records). Slicing each record's
bytes out of the request a receiver got costs a third of serializing the decoded record again.
"""

from __future__ import annotations

__all__ = ["record_frames"]


def _length_delimited(buf: bytes, pos: int, end: int) -> list[tuple[int, int, int]]:
    """(field number, start, end) of every length-delimited field in ``buf[pos:end]``.

    Raises ValueError for bytes that are not a protobuf message.
    """
    out: list[tuple[int, int, int]] = []
    append = out.append
    while pos < end:
        key = buf[pos]
        pos += 1
        if key >= 0x80:
            key &= 0x7F
            shift = 7
            while True:
                byte = buf[pos]
                pos += 1
                key |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
        wire = key & 7
        if wire == 2:
            size = buf[pos]
            pos += 1
            if size >= 0x80:
                size &= 0x7F
                shift = 7
                while True:
                    byte = buf[pos]
                    pos += 1
                    size |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
            append((key >> 3, pos, pos + size))
            pos += size
        elif wire == 0:
            while buf[pos] >= 0x80:
                pos += 1
            pos += 1
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"wire type {wire} at byte {pos}")
    if pos != end:
        raise ValueError("field runs past the end of its message")
    return out


def record_frames(raw: bytes) -> list[bytes]:
    """The bytes of each span or log record of a serialized traces or logs export request,
    in the order the decoded message iterates them. Raises ValueError for malformed bytes."""
    out = []
    try:
        for field, start, end in _length_delimited(raw, 0, len(raw)):
            if field != 1:
                continue
            for field2, start2, end2 in _length_delimited(raw, start, end):
                if field2 != 2:
                    continue
                for field3, start3, end3 in _length_delimited(raw, start2, end2):
                    if field3 == 2:
                        out.append(raw[start3:end3])
    except IndexError as exc:
        raise ValueError("truncated protobuf message") from exc
    return out
