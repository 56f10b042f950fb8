"""Variable names as directory names (SPEC.md section 4)."""

from __future__ import annotations

from flowsnap.errors import InvalidNameError

DATA_FILENAME = "out"
META_FILENAME = "meta"
SNAPSHOT_DONE = "snapshot_done"
# A copy of the manifest, written just before snapshot_done, so that emptying or losing the marker
# does not silently turn off the checksums (OneFlow ignores files at the top level).
MANIFEST_COPY = ".flowsnap-manifest"

_NAME_MAX_BYTES = 255
_FORBIDDEN = ("/", "\\", "\0")


def validate_name(name: object) -> str:
    """Return ``name`` if it can be a variable directory in a snapshot, else raise.

    Raises:
        InvalidNameError: not a str, empty, ``.``/``..``, contains ``/``, ``\\`` or NUL, longer than
            255 UTF-8 bytes, or is ``snapshot_done`` or ``.flowsnap-manifest``.
    """
    if not isinstance(name, str):
        raise InvalidNameError(
            f"variable name {name!r} is a {type(name).__name__}; names must be strings"
        )
    problem = None
    if name in ("", ".", ".."):
        problem = "it is empty or a special directory name"
    elif any(c in name for c in _FORBIDDEN):
        problem = "it contains '/', '\\' or NUL, which would leave the variable's directory"
    elif name == SNAPSHOT_DONE:
        problem = "'snapshot_done' is the snapshot's commit marker"
    elif name == MANIFEST_COPY:
        problem = f"{MANIFEST_COPY!r} is the name of the manifest's copy"
    else:
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            problem = "it cannot be encoded as UTF-8"
        else:
            if len(encoded) > _NAME_MAX_BYTES:
                problem = f"it is {len(encoded)} bytes long in UTF-8 (at most {_NAME_MAX_BYTES})"
    if problem is not None:
        raise InvalidNameError(
            f"invalid variable name {name!r}: {problem}. Each variable is saved as a directory "
            "named after it; rename the variable (OneFlow joins scopes with '-', e.g. "
            "'conv1-weight')."
        )
    return name
