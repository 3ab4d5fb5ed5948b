"""What an image has under the folders devenv bind-mounts, and copying single files out of it.

The image's files are listed by its own Python (:data:`LIST_FILES`, run by a
throwaway container) and cached per image id, because an image never changes.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

# Run by the image's python3 as ``-c``: one "path<TAB>size" line per regular file under the
# folders given as arguments (absolute in the image); bytecode is skipped: Python makes its own.
LIST_FILES = r"""
import os, sys
for top in sys.argv[1:]:
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not os.path.islink(path):
                sys.stdout.write("%s\t%d\n" % (path, st.st_size))
"""


def write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """Write one file of a tar stream to ``target`` atomically (a crash leaves no half file)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None
    fd, tmp = tempfile.mkstemp(prefix=".devenv-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        os.chmod(tmp, 0o444)  # what the image baked is read-only for devenv's purposes
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
