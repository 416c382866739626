"""What this copy of the monitor is: its version, the commit it was built from when that can be
known, the Python under it and the libraries that matter in a bug report.

The commit comes from git at run time, and only when the package sits in a git checkout of its
own (`<top>/monitor`): an installed wheel, a Docker image or a package copied into some other
repository says "unknown" rather than another tree's commit. git gets a short deadline and any
failure (no git, a repository owned by someone else, a lock) is "unknown", never an error.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from monitor import __version__

GIT_DEADLINE = 2.0  # seconds per git call; `monitor --version` must stay quick
LIBRARIES = (
    "aiohttp",
    "httptools",
    "uvloop",
    "asyncpg",
    "click",
    "rich",
    "prometheus-client",
    "sqlite-utils",
)
UNKNOWN = "unknown"


class BuildInfo(NamedTuple):
    version: str
    commit: str  # a short hash with "-dirty" when the checkout has changes, or "unknown"
    python: str  # "3.11.9 (CPython)"
    platform: str
    libraries: tuple[tuple[str, str], ...]  # (name, version) of those installed

    def lines(self) -> list[str]:
        """The text of `monitor --version`: the first line as click's own version option
        wrote it (scripts that read it keep working), then one fact a line."""
        libraries = ", ".join(f"{name} {version}" for name, version in self.libraries)
        return [
            f"monitor, version {self.version}",
            f"commit: {self.commit}",
            f"python: {self.python} on {self.platform}",
            f"libraries: {libraries or 'none found'}",
        ]


@functools.cache
def build_info() -> BuildInfo:
    """This process's build info, looked up once."""
    return BuildInfo(
        version=__version__,
        commit=commit(Path(__file__).resolve().parent),
        python=f"{platform.python_version()} ({platform.python_implementation()})",
        platform=platform.platform(terse=True),
        libraries=tuple(
            (name, version) for name in LIBRARIES if (version := _installed(name)) is not None
        ),
    )


def commit(package: Path) -> str:
    """The short commit of the checkout `package` is the top-level package of, "-dirty" when
    tracked files differ from it; "unknown" when that is not a checkout of ours or git cannot
    say."""
    top = _git(package, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != package.parent:
        return UNKNOWN
    described = _git(package, "describe", "--always", "--dirty", "--abbrev=12", "--exclude=*")
    return described if described else UNKNOWN


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_DEADLINE,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _installed(name: str) -> str | None:
    """A distribution's version without importing it (importing aiohttp costs 100 ms)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
