"""Hub artifacts of trained target languages: pack, verify, install, list (``unibridge hub``)."""

from .artifact import (ArtifactError, check_name, default_hub_dir, find_installed, install, list_artifacts, pack,
                       verify)

__all__ = ["ArtifactError", "check_name", "default_hub_dir", "find_installed", "install", "list_artifacts", "pack",
           "verify"]
