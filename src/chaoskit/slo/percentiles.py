"""Percentiles read straight from encoded HDR histograms, without building the histogram.

A report draws p50/p95/p99 for every second of a run: an hour is 3,600 histograms. Decoding
each into an ``HdrHistogram`` allocates its whole counts array, and ``hdrh`` finds a
percentile by walking that array in Python: seconds per hour of report. The encoding (V2,
run-length zeros, ZigZag LEB128 counts) lists only the counts a second holds, a few hundred
at most, so walking it is what costs least; values come out exactly as
``HdrHistogram.get_value_at_percentile`` gives them (tests/unit/test_percentiles.py).
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Sequence

_EXTERNAL = struct.Struct(">II")  # cookie, compressed length
_PAYLOAD = struct.Struct(">IIIIqqd")  # cookie, length, offset, digits, lowest, highest, ratio
_COMPRESSED_COOKIE, _ENCODED_COOKIE = 0x1C849304, 0x1C849303


class UnreadableEncoding(ValueError):
    """Not a V2 compressed HDR histogram encoding this module reads."""


def percentiles_of_encodings(
    encodings: Sequence[str], percentiles: Sequence[float]
) -> list[float] | None:
    """The values at ``percentiles`` of the histograms ``encodings`` add up to; None when
    they hold no value. UnreadableEncoding when one is not read here (the caller decodes)."""
    layout: tuple[int, int, int] | None = None
    counts: dict[int, int] = {}
    for encoding in encodings:
        digits, lowest, offset, entries = _read(encoding)
        if layout is None:
            layout = (digits, lowest, offset)
        elif layout != (digits, lowest, offset):
            raise UnreadableEncoding("histograms of different layouts")
        for index, count in entries:
            counts[index] = counts.get(index, 0) + count
    total = sum(counts.values())
    if layout is None or total == 0:
        return None
    digits, lowest, _ = layout
    half_magnitude, unit_magnitude = _magnitudes(digits, lowest)
    ordered = sorted(counts.items())
    values = []
    for percentile in percentiles:
        target = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
        running = 0
        for index, count in ordered:
            running += count
            if running >= target:
                values.append(float(_highest_equivalent(index, half_magnitude, unit_magnitude)))
                break
    return values


def check_encoding(encoding: str, *, layout: tuple[int, int, int]) -> None:
    """UnreadableEncoding unless ``encoding`` is a V2 compressed histogram of ``layout``
    (lowest, highest, significant digits) whose lengths agree: what ``hdrh`` checks before it
    decodes, so that a histogram passing here decodes. Cheap (base64 and zlib, ~2 µs for a
    second's histogram): the counts are not walked, and zlib's checksum already refuses a
    compressed payload damaged after it was written."""
    try:
        raw = base64.b64decode(encoding, validate=True)
        cookie, length = _EXTERNAL.unpack_from(raw)
        if cookie & ~0xF0 != _COMPRESSED_COOKIE & ~0xF0:
            raise UnreadableEncoding("not an HDR histogram")
        if length != len(raw) - _EXTERNAL.size:
            raise UnreadableEncoding(f"{length} bytes said, {len(raw) - _EXTERNAL.size} held")
        payload = zlib.decompress(raw[_EXTERNAL.size :])
        cookie, size, offset, digits, lowest, highest, _ = _PAYLOAD.unpack_from(payload)
    except (ValueError, struct.error, zlib.error) as error:
        raise UnreadableEncoding(str(error)) from error
    # hdrh decodes only 8-byte counts (the cookie's low bits: 0x10 per byte of word size).
    if cookie != (_ENCODED_COOKIE & ~0xF0) | 0x10 or offset != 0:
        raise UnreadableEncoding(f"cookie {cookie:#x}, offset {offset}")
    if (lowest, highest, digits) != layout:
        raise UnreadableEncoding(
            f"a histogram from {lowest} to {highest} with {digits} digits, not "
            f"{layout[0]} to {layout[1]} with {layout[2]}"
        )
    if size != len(payload) - _PAYLOAD.size:
        raise UnreadableEncoding(
            f"{size} bytes of counts said, {len(payload) - _PAYLOAD.size} held"
        )


def _read(encoding: str) -> tuple[int, int, int, list[tuple[int, int]]]:
    try:
        raw = base64.b64decode(encoding)
        cookie, length = _EXTERNAL.unpack_from(raw)
        if cookie & ~0xF0 != _COMPRESSED_COOKIE & ~0xF0:
            raise UnreadableEncoding(f"cookie {cookie:#x}")
        payload = zlib.decompress(raw[_EXTERNAL.size : _EXTERNAL.size + length])
        cookie, size, offset, digits, lowest, _, _ = _PAYLOAD.unpack_from(payload)
    except (ValueError, struct.error, zlib.error) as error:
        raise UnreadableEncoding(str(error)) from error
    if cookie & ~0xF0 != _ENCODED_COOKIE & ~0xF0 or offset != 0:
        raise UnreadableEncoding(f"cookie {cookie:#x}, offset {offset}")
    entries = []
    index, position, end = 0, _PAYLOAD.size, _PAYLOAD.size + size
    while position < end:
        value, shift = 0, 0
        while True:  # LEB128: 7 bits a byte, low first (at most 9 bytes, the last whole)
            byte = payload[position]
            position += 1
            if shift == 56:
                value |= byte << 56
                break
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        count = (value >> 1) ^ -(value & 1)  # ZigZag
        if count < 0:
            index += -count  # a run of empty counts
        else:
            entries.append((index, count))
            index += 1
    return digits, lowest, offset, entries


def _magnitudes(digits: int, lowest: int) -> tuple[int, int]:
    single_unit_resolution = 2 * 10**digits
    sub_bucket_count_magnitude = math.ceil(math.log2(single_unit_resolution))
    return max(sub_bucket_count_magnitude, 1) - 1, math.floor(math.log2(lowest))


def _highest_equivalent(index: int, half_magnitude: int, unit_magnitude: int) -> int:
    half_count = 1 << half_magnitude
    bucket = (index >> half_magnitude) - 1
    sub_bucket = (index & (half_count - 1)) + half_count
    if bucket < 0:
        sub_bucket -= half_count
        bucket = 0
    lowest_equivalent = sub_bucket << (bucket + unit_magnitude)
    return lowest_equivalent + (1 << (unit_magnitude + bucket)) - 1
