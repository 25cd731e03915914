"""The register files a server is given, read again when they change on disk.

``portsift serve --enterprises F --commodities F --disclosures F --rulings F`` names
register files (``PORTSIFT_ENTERPRISES`` ... in the worker's environment). Each is read
and validated at start by the loader ``portsift score`` uses, and a bad one stops the
server. While it runs, a worker looks at the files' inode, size and modification time at
most every ``[serving] register_check_seconds`` before deciding a batch; a file that
changed is read again with the same loader and, if valid, is in force from that batch on
(the compiled per-request path is rebuilt against it). A changed file that does not
validate is refused: the error (file, column, rows) is logged, the registers in force
stay, and the file is read again only once it changes again. Replace a file by renaming
a complete new one over it (``mv``), so that no worker ever reads half of it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pandas as pd

from portsift.features import loading
from portsift.features.pipeline import Registers
from portsift.features.validation import InputError

logger = logging.getLogger("portsift.serving")

#: The registers a server reloads, with the environment variable naming each file.
REGISTER_ENV: Final[dict[str, str]] = {
    "enterprises": "PORTSIFT_ENTERPRISES",
    "commodities": "PORTSIFT_COMMODITIES",
    "disclosures": "PORTSIFT_DISCLOSURES",
    "rulings": "PORTSIFT_RULINGS",
}

#: The loader of each register (the ones ``portsift score`` reads its files with).
LOADERS: Final[dict[str, Callable[..., loading.LoadedTable]]] = {
    "enterprises": loading.load_enterprises,
    "commodities": loading.load_commodities,
    "disclosures": loading.load_disclosures,
    "rulings": loading.load_rulings,
}

#: What identifies one version of a file: inode, size and modification time (ns).
Signature = tuple[int, int, int]


def signature(path: Path) -> Signature | None:
    """The file's inode, size and modification time, or None when it cannot be read."""
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def paths_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The register files named by the environment ``portsift serve`` sets."""
    environ = os.environ if environ is None else environ
    return {kind: environ[name] for kind, name in REGISTER_ENV.items() if environ.get(name)}


@dataclass
class RegisterFiles:
    """Register files, the frames read from them and when they were last looked at.

    Attributes:
        paths: Register kind (``enterprises``, ``commodities``, ``disclosures``,
            ``rulings``) -> its file.
        check_seconds: Least time between two looks at the files (0: every batch).
        frames: The frames in force, per kind.
        seen: The signature of each file's last version read (valid or refused).
        checked_at: ``time.monotonic()`` of the last look.
    """

    paths: dict[str, Path]
    check_seconds: float = 1.0
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    seen: dict[str, Signature | None] = field(default_factory=dict)
    checked_at: float = 0.0

    @classmethod
    def open(
        cls, paths: Mapping[str, str | os.PathLike[str]], check_seconds: float = 1.0
    ) -> RegisterFiles:
        """Read and validate every register file given.

        Args:
            paths: Register kind -> file (kinds of :data:`LOADERS`).
            check_seconds: Least time between two looks for changed files.

        Returns:
            The files with their frames.

        Raises:
            InputError: A file is missing or invalid (the message names the file,
                column and rows).
            ValueError: An unknown register kind.
        """
        unknown = sorted(set(paths) - set(LOADERS))
        if unknown:
            raise ValueError(f"unknown register(s) {', '.join(unknown)}: {', '.join(LOADERS)}")
        files = cls({kind: Path(path) for kind, path in paths.items()}, check_seconds)
        for kind, path in files.paths.items():
            files.seen[kind] = signature(path)
            files.frames[kind] = LOADERS[kind](path).frame
        files.checked_at = time.monotonic()
        return files

    def registers(self) -> Registers:
        """The registers in force (a kind without a file: None, the bundle's snapshot)."""
        return Registers(
            enterprises=self.frames.get("enterprises"),
            lab_results=None,
            commodities=self.frames.get("commodities"),
            disclosures=self.frames.get("disclosures"),
            rulings=self.frames.get("rulings"),
        )

    def reload(self, *, now: float | None = None) -> bool:
        """Read again the files that changed since they were last read, if it is time.

        Args:
            now: ``time.monotonic()`` (given by tests).

        Returns:
            Whether a register in force changed (a refused file changes nothing).
        """
        now = time.monotonic() if now is None else now
        if now - self.checked_at < self.check_seconds:
            return False
        self.checked_at = now
        changed = False
        for kind, path in self.paths.items():
            current = signature(path)
            if current == self.seen.get(kind):
                continue
            self.seen[kind] = current
            try:
                frame = LOADERS[kind](path).frame
            except (InputError, OSError) as err:
                # The server goes on with the register it had; the file is read again
                # once it changes again.
                logger.error(
                    "portsift: %s register %s refused, the previous one stays in force: %s",
                    kind,
                    path,
                    err,
                )
                continue
            self.frames[kind] = frame
            changed = True
            logger.info("portsift: %s register reloaded from %s (%d rows)", kind, path, len(frame))
        return changed
