"""Which Pillow build decodes in this process: Pillow, or Pillow-SIMD where its folder comes first
on the path (README: Faster decoding). Both install the same `PIL` package, so the version alone
does not say which one a worker imported; the distribution whose files hold that package does."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import threading

import PIL

logger = logging.getLogger(__name__)

# The distributions that install `PIL`, in the order they are looked for.
BUILDS = ("Pillow-SIMD", "Pillow")


@functools.cache
def pillow_build() -> str:
    """'Pillow-SIMD 12.1.1.post0', 'Pillow 12.3.0': the distribution this process's PIL came from;
    where none of BUILDS installed it, its version and folder. A process imports PIL once, so it
    is looked up once: the command and its in-process workers both say it."""
    imported = os.path.realpath(PIL.__file__)
    for name in BUILDS:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if os.path.realpath(distribution.locate_file("PIL/__init__.py")) == imported:
            return f"{name} {distribution.version}"
    return f"PIL {PIL.__version__} from {os.path.dirname(imported)}"


# Taken by the first call and never given back: the worker threads of a process set up their
# steps at the same time, and a cache would let each of them in while the first was still logging.
_LOGGED = threading.Lock()


def log_pillow_build() -> None:
    """Says once per process which build decodes (a worker's log on Dataflow)."""
    if _LOGGED.acquire(blocking=False):
        logger.info("Decoding with %s", pillow_build())
