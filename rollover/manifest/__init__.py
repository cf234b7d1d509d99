"""The CSV manifest: a file's bytes in, frozen rows out, or every problem with its line.

pandas stays inside this package (`_table` turns bytes into cells pinned to their physical lines);
`_checks` checks every cell and hands back `Manifest` and `ManifestRow`.
"""

from ._checks import COLUMNS, REQUIRED_COLUMNS, Manifest, ManifestRow, load_manifest

__all__ = ["COLUMNS", "REQUIRED_COLUMNS", "Manifest", "ManifestRow", "load_manifest"]
