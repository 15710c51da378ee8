"""UniBridge's cache folder: the root under which built backbones, heads, hub artifacts and
dataset copies are kept."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """Root folder of UniBridge's cache.

    ``$UNIBRIDGE_CACHE`` when set, otherwise ``platformdirs.user_cache_dir("unibridge")``
    (e.g. ``~/.cache/unibridge`` on Linux). The folder is not created here.
    """
    env = os.environ.get("UNIBRIDGE_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("unibridge"))
