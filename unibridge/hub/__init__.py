"""Hub artifacts of trained target languages: pack, verify, install, list, push, pull (``unibridge hub``)."""

from .artifact import (ArtifactError, check_name, default_hub_dir, find_installed, install, list_artifacts, pack,
                       verify)
from .lookup import find_run_dir
from .remote import pull, push

__all__ = ["ArtifactError", "check_name", "default_hub_dir", "find_installed", "find_run_dir", "install",
           "list_artifacts", "pack", "pull", "push", "verify"]
