"""Buckets on the storage emulator, filled and read back with the official client."""

from __future__ import annotations

import os
import uuid

from tests import emulators


def gcs():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=emulators.PROJECT, credentials=AnonymousCredentials())


def new_bucket() -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    gcs().create_bucket(name)
    return name


def upload_folder(folder: str, bucket: str, prefix: str, names=None) -> list[str]:
    """Uploads files (recursively); returns their gs:// URIs."""
    uris = []
    target = gcs().bucket(bucket)
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            if names is not None and relative not in names:
                continue
            target.blob(f"{prefix}/{relative}").upload_from_filename(path)
            uris.append(f"gs://{bucket}/{prefix}/{relative}")
    return uris


def download_folder(uri: str, folder: str) -> str:
    """Copies everything under gs://BUCKET/PREFIX to `folder`, to read it the way README shows."""
    bucket, prefix = uri[len("gs://") :].split("/", 1)
    os.makedirs(folder, exist_ok=True)
    for blob in gcs().list_blobs(bucket, prefix=prefix + "/"):
        relative = blob.name[len(prefix) + 1 :]
        if "/" not in relative:  # Beam's temporary folders are gone after a run
            blob.download_to_filename(os.path.join(folder, relative))
    return folder
