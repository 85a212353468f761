"""Ids: 32 hex digits, time-ordered, unique across threads (random bytes drawn per thread)."""

from __future__ import annotations

import re
import threading

from octipus.db.ids import new_id


def test_ids_are_hex_time_ordered_and_unique_across_threads():
    made: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(new_id() for _ in range(2000))  # several 4 KiB pools of random bytes

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for out in made for i in out]
    assert len(set(ids)) == len(ids) == 8000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    for out in made:
        assert [i[:12] for i in out] == sorted(i[:12] for i in out)  # the millisecond prefix
