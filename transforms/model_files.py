"""Where a model handle's files are: URLs through tensorflow_hub's cache, SavedModel folders on
a remote Beam filesystem (gs://) copied once per machine into that same cache, local folders as
they are."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import uuid

from apache_beam.io.filesystems import FileSystems

from transforms.fs import open_raw

logger = logging.getLogger(__name__)

URL_SCHEMES = ("http://", "https://")


def is_url(handle: str) -> bool:
    return handle.startswith(URL_SCHEMES)


def is_remote_path(handle: str) -> bool:
    """A folder on a Beam filesystem that TensorFlow should not read directly (gs://, s3://)."""
    return "://" in handle and not is_url(handle) and not handle.startswith("file://")


def cache_dir() -> str:
    """TFHUB_CACHE_DIR, as tensorflow_hub itself uses it, else its default."""
    return os.environ.get("TFHUB_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tfhub_modules")


def local_model_path(handle: str) -> str:
    """A local folder holding the SavedModel of `handle`, fetched or copied if needed."""
    if is_url(handle):
        import tensorflow_hub as hub

        return hub.resolve(handle)
    if is_remote_path(handle):
        return copy_to_cache(handle)
    return handle


def copy_to_cache(folder: str) -> str:
    """Copies a remote SavedModel folder once; concurrent processes each copy to a temporary
    folder and the first rename wins, so no process ever loads a half-written model."""
    target = os.path.join(cache_dir(), hashlib.sha1(folder.encode()).hexdigest())
    if os.path.isdir(target):
        return target
    os.makedirs(cache_dir(), exist_ok=True)
    staging = f"{target}.{uuid.uuid4().hex}.tmp"
    prefix = folder.rstrip("/") + "/"
    matched = FileSystems.match([prefix + "**"])[0].metadata_list
    if not matched:
        raise FileNotFoundError(f"no files under {folder}")
    logger.info("Copying %s (%d files) to %s", folder, len(matched), target)
    for metadata in matched:
        relative = metadata.path[len(prefix) :]
        local = os.path.join(staging, *relative.split("/"))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open_raw(metadata.path) as source, open(local, "wb") as sink:
            shutil.copyfileobj(source, sink, length=8 << 20)
    try:
        os.rename(staging, target)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target
