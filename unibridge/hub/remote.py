"""Sharing artifacts: push to and pull from a Hugging Face model repository or a shared folder.

A remote is either a Hugging Face repository id (``owner/name``, through ``huggingface_hub``:
``HfApi.upload_folder`` / ``snapshot_download``, one tag per artifact version) or, with
``remote=DIR``, a plain folder laid out as ``DIR/<owner>/<name>/<version>/`` (a network drive,
or an offline stand-in for the hub). Either way the artifact is verified against its manifest
before it leaves and again after it arrives, and a pull ends with :func:`install`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError
from .artifact import ArtifactError, _version_key, check_name, copy_verified, install, verify

_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_repo_id(repo_id: str) -> tuple[str, str]:
    """``(owner, name)`` of an ``owner/name`` repository id; ConfigError for anything else
    (``..``, absolute paths, more than one ``/``)."""
    if not isinstance(repo_id, str) or not _REPO.match(repo_id) or ".." in repo_id:
        raise ConfigError(f"invalid repository id {repo_id!r}: use owner/name")
    owner, name = repo_id.split("/")
    return owner, name


def push(artifact_dir: str | Path, repo_id: str, *, remote: str | Path | None = None,
         token: str | None = None) -> str:
    """Verify ``artifact_dir`` and publish it.

    With ``remote``: copied to ``remote/<owner>/<name>/<version>`` (temporary name, then
    renamed; an existing version is refused). Without: uploaded to the Hugging Face model
    repository ``repo_id`` (created if needed) in one commit, tagged with the version.
    Returns the destination (folder path or repository URL).
    Raises: ArtifactError (verification), ConfigError (bad id, version already pushed).
    """
    manifest = verify(artifact_dir)
    owner, name = check_repo_id(repo_id)
    version = manifest["version"]
    if remote is not None:
        dest = Path(remote) / owner / name / version
        if dest.exists():
            raise ConfigError(f"{repo_id} already has version {version} in {remote}")
        return str(copy_verified(artifact_dir, dest))
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(artifact_dir), repo_type="model",
                             commit_message=f"{manifest['name']} {version} ({manifest['target']})")
    api.create_tag(repo_id, tag=f"v{version}", repo_type="model", exist_ok=True)
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}")


def pull(repo_id: str, *, remote: str | Path | None = None, version: str | None = None,
         hub_dir: str | Path | None = None, token: str | None = None, force: bool = False) -> Path:
    """Fetch an artifact, verify it and install it into the local hub; returns its folder.

    ``version``: with ``remote``, the version folder (default: the newest); from Hugging Face,
    the tag ``v<version>`` (default: the main branch).
    Raises: ArtifactError (missing or tampered files), ConfigError (bad id, no such version).
    """
    owner, name = check_repo_id(repo_id)
    if version is not None and not re.match(r"^\d+(\.\d+){0,2}$", version):
        raise ConfigError(f"invalid version {version!r}")
    with tempfile.TemporaryDirectory(prefix="unibridge-pull-") as scratch:
        if remote is not None:
            base = Path(remote) / owner / name
            versions = sorted((p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                              key=_version_key) if base.is_dir() else []
            if not versions or (version is not None and version not in versions):
                raise ConfigError(f"{repo_id} has no version {version or ''} in {remote} (found: {versions})")
            src = base / (version or versions[-1])
        else:
            from huggingface_hub import snapshot_download

            src = Path(snapshot_download(repo_id, repo_type="model", revision=f"v{version}" if version else None,
                                         local_dir=str(Path(scratch) / "download"), token=token))
            shutil.rmtree(src / ".cache", ignore_errors=True)  # huggingface_hub's download metadata
        manifest = verify(src)
        check_name(manifest["name"])
        if version is not None and manifest["version"] != version:
            raise ArtifactError(f"{repo_id}: asked for version {version}, the manifest says {manifest['version']}")
        return install(src, hub_dir, force=force)
