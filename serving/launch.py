"""``python -m portsift.serving.launch ARGS``: ``bentoml serve ARGS`` with private metrics.

BentoML keeps the Prometheus multiprocess files of a server in
``$BENTOML_HOME/prometheus_multiproc_dir`` and empties that directory when a server
starts: two servers on one machine (a champion and a challenger, or two ports) would
share, then wipe, each other's metrics. ``portsift serve`` starts BentoML through this
module instead, which gives the server a directory of its own,
``$TMPDIR/portsift-metrics-<pid>-<random>``, and removes it when the server exits. A
directory left by a server that was killed (SIGKILL runs no clean-up) is removed by the
next server that starts, once its process is gone.

The one hook used, ``BentoMLContainer.prometheus_multiproc_dir``, is internal to
BentoML (its own pytest plugin sets it the same way); ``tests/serving`` checks that a
server's workers really write where this module says.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

#: Prefix of the per-server directories, followed by the serving process id.
PREFIX: Final[str] = "portsift-metrics-"
_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to clean up
    return True


def remove_stale_directories(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove the metrics directories of servers whose process no longer exists.

    Args:
        root: Where they are (default: the temporary directory).

    Returns:
        The directories removed.
    """
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(PREFIX + "*"):
        match = _OWNED.match(path.name)
        if match and path.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bentoml serve`` with ``argv`` in a private Prometheus directory.

    Args:
        argv: The arguments of ``bentoml serve`` (default: this process's).

    Returns:
        BentoML's exit status.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    remove_stale_directories()
    directory = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    try:
        from bentoml._internal.configuration.containers import BentoMLContainer
        from bentoml_cli.cli import cli

        BentoMLContainer.prometheus_multiproc_dir.set(directory)
        status = cli.main(args=["serve", *arguments], prog_name="bentoml", standalone_mode=False)
        return int(status or 0)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(directory)


if __name__ == "__main__":
    raise SystemExit(main())
