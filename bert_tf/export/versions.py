"""TF Serving's layout: `BASE/<integer version>/`; the server loads the highest. New versions appear atomically."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from bert_tf.atomic import atomic_folder


def existing_versions(base: str) -> list[int]:
    if not os.path.isdir(base):
        return []
    return sorted(int(name) for name in os.listdir(base) if name.isdigit() and os.path.isdir(os.path.join(base, name)))


def next_version(base: str) -> int:
    versions = existing_versions(base)
    return versions[-1] + 1 if versions else 1


@contextlib.contextmanager
def new_version_folder(base: str, version: int | None = None, overwrite: bool = False) -> Iterator[tuple[str, int]]:
    """Yield `(temporary folder, version)`; on success it is renamed to `base/<version>`, on error removed.

    The temporary name (`.<version>.tmp-...`) is not a number, so a TF Serving instance watching `base` never
    sees a half-written version. An existing version is refused unless `overwrite`.
    """
    version = next_version(base) if version is None else int(version)
    final = os.path.join(base, str(version))
    if os.path.exists(final) and not overwrite:
        raise FileExistsError(f"{final} already exists: version {version} is never overwritten without --overwrite "
                              f"(omit --version to write version {next_version(base)})")
    with atomic_folder(final, overwrite=overwrite) as tmp:
        yield tmp, version
