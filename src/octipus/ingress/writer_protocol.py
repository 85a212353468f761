"""How serving processes and the ingress writer process talk (ingress/writer_process.py).

Over a Unix socket in a directory only this user can enter (serving/writer.py), each message is
a 4-byte length and a `marshal`-ed value: a serving process sends a batch (BatchRows's
`as_message`), the writer answers each batch in the order it came, once stored. `marshal` is
safe here only because both ends are this user's own processes. Standard library only.
"""

from __future__ import annotations

import marshal
import struct
from typing import Any

HEADER = struct.Struct("<I")
STORED, CONFLICT, FAILED = "stored", "conflict", "failed"  # how the writer answers a batch


def frame(value: Any) -> bytes:
    data = marshal.dumps(value)
    return HEADER.pack(len(data)) + data


def unframe(buffer: bytearray) -> list[Any]:
    """The complete messages at the start of `buffer`, removed from it."""
    values = []
    while len(buffer) >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer)
        end = HEADER.size + size
        if len(buffer) < end:
            break
        values.append(marshal.loads(bytes(buffer[HEADER.size : end])))
        del buffer[:end]
    return values
