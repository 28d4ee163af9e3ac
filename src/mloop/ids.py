"""Short, sortable, printable identifiers.

16 lowercase Crockford base32 characters: 10 for the millisecond timestamp (sortable by creation),
6 random (30 bits). No autoincrement, so ids never leak row counts or collide across tables.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id() -> str:
    return _encode(time.time_ns() // 1_000_000, 10) + _encode(secrets.randbits(30), 6)
