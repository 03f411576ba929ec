"""A smaller operator process: set up before kopf is imported (``overture operator`` calls ``lean``).

Measured with 1,000 Flows and 10,000 finished Executions cached (benchmarks/README.md):

- kopf imports every Kubernetes client it finds, for its login handlers and isinstance checks:
  the sync ``kubernetes`` client (installed for the CLI) and ``pykube`` (brought by pytest-kind
  in a dev venv). The operator talks through ``kubernetes_asyncio`` only, so both are hidden
  from it (``sys.modules[name] = None`` makes their import fail): ~14 MiB less.
- glibc keeps the pages it freed; ``trim`` (``malloc_trim``) hands them back, after the cache
  is primed and then every ``TRIM_SECONDS``: a burst of watch events leaves ~10-15 MiB free.
- glibc gives each thread that allocates its own malloc arena; aiohttp's resolver and
  asyncio's default executor threads each kept one mostly empty: at most 2 arenas, ~26 MiB less.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import sys

UNUSED_CLIENTS = ("kubernetes", "pykube")
M_ARENA_MAX = -8  # from glibc's malloc.h
MALLOC_ARENAS = 2
TRIM_SECONDS = 60.0


def lean() -> None:
    for name in UNUSED_CLIENTS:
        if name not in sys.modules:  # the CLI may have imported one already: then it stays
            sys.modules[name] = None  # type: ignore[assignment]
    limit_malloc_arenas(MALLOC_ARENAS)


def limit_malloc_arenas(arenas: int) -> bool:
    """glibc's ``mallopt(M_ARENA_MAX)``; False (and nothing done) on another libc."""
    libc = _libc()
    try:
        return libc is not None and bool(libc.mallopt(M_ARENA_MAX, arenas))
    except AttributeError:  # musl has no mallopt
        return False


def trim() -> bool:
    """glibc's ``malloc_trim(0)``: free heap pages back to the system; False on another libc."""
    libc = _libc()
    try:
        return libc is not None and bool(libc.malloc_trim(0))
    except AttributeError:
        return False


async def trim_every(seconds: float = TRIM_SECONDS) -> None:
    while True:
        await asyncio.sleep(seconds)
        trim()


@functools.cache
def _libc() -> ctypes.CDLL | None:
    path = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(path) if path else None
    except OSError:
        return None
