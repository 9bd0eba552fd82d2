"""The cyclic garbage collector kept off a batch's sends.

With a thousand flows alive, the objects they make (tasks, frames, requests, answers)
fill the collector's young generations faster than they die; each middle-generation
collection then walks tens of thousands of them and stops the event loop for 4-10 ms,
a full one for 30 ms or more, and every send due meanwhile goes out late
(bench/gc_pauses.py). Almost none of that needs the collector: reference counting
frees it the moment a flow lets go. So, during a batch:

- everything built before it (the flow, the calls, the modules) is frozen out of
  collections (`gc.freeze`), and
- the cyclic collector is off; it is back on, as it was, when the batch ends.

What it would have reclaimed meanwhile (the few reference cycles a flow leaves behind)
waits for the next collection after the batch: bench/gc_pauses.py measures how much that
is (a few hundred objects for a thousand calls).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    """Freeze what exists and keep the cyclic collector off until the block ends."""
    was_on = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
        gc.unfreeze()
