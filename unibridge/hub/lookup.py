"""Where a target's trained parts are: a run directory, an installed artifact, or a pulled one."""

from __future__ import annotations

from pathlib import Path

from ..artifacts import default_run_dir, read_json
from ..errors import ConfigError
from .artifact import find_installed
from .remote import pull


def find_run_dir(target: str, run_dir: str | Path | None = None, repo: str | None = None) -> Path:
    """The folder holding ``target``'s trained parts: ``run_dir`` if given; else the default run
    directory (:func:`~unibridge.artifacts.default_run_dir`) if it holds a finished run; else the newest artifact of
    ``target`` installed in the local hub (:func:`~unibridge.hub.artifact.default_hub_dir`), verified
    against its manifest; else, when ``repo`` (a Hugging Face ``owner/name``) is given, that
    repository's artifact, pulled, verified and installed into the local hub. Raises
    ConfigError if none has it (ArtifactError if an artifact was altered)."""
    d = Path(run_dir) if run_dir else default_run_dir(target)
    if (d / "run.json").is_file():
        return d
    if not run_dir:
        installed = find_installed(target)
        if installed is not None:
            return installed
        if repo:
            pulled = pull(repo)
            if read_json(pulled / "run.json")["target"] != target:
                raise ConfigError(f"{repo} holds an artifact for '{read_json(pulled / 'run.json')['target']}', "
                                  f"not '{target}'")
            return pulled
    raise ConfigError(f"no finished run for '{target}' in {d} and no installed artifact; run "
                      f"`unibridge run recipes/{target}.yaml` or `unibridge hub install ...` first")
