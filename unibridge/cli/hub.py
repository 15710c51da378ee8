"""``unibridge hub``: trained-language artifacts (list, show, pack, pack-sources, verify, install,
push, pull)."""

from __future__ import annotations

import json

from .options import text_table


def cmd_hub(a) -> int:
    """``unibridge hub ACTION``: list, show, pack, pack-sources, verify, install, push or pull artifacts."""
    from .. import hub
    from ..errors import ConfigError

    if a.action == "list":
        entries = hub.list_artifacts(a.hub, target=a.target, task=a.task)
        if a.json:
            print(json.dumps(entries, indent=2, ensure_ascii=False, default=str))
            return 0
        rows = [[e["target"], e["name"], e["version"], e["base_model"], ",".join(e["tasks"]), e["path"]]
                for e in entries]
        print(text_table(rows, ["target", "name", "version", "base", "tasks", "path"]) if rows else "no artifacts")
    elif a.action == "show":
        folder = hub.find_installed(a.target, a.hub, version=a.version) if a.target else None
        if folder is None:
            raise ConfigError(f"no installed artifact for {a.target!r}" + (f" version {a.version}" if a.version else "")
                              + "; `unibridge hub list` shows what is installed")
        m = hub.verify(folder)
        shown = {k: v for k, v in m.items() if k != "files"}
        if a.json:
            print(json.dumps({**shown, "files_verified": len(m["files"]), "folder": str(folder)}, indent=2,
                             ensure_ascii=False))
            return 0
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        print(f"{len(m['files'])} files verified in {folder}")
    elif a.action == "pack-sources":
        from ..hub.sources import SHIPPED_SOURCES, pack_sources

        m = pack_sources(a.run_dir, a.out or SHIPPED_SOURCES, half=not a.float32)
        print(f"{len(m['entries'])} source adapters in {a.out or SHIPPED_SOURCES}")
    elif a.action == "pack":
        out = hub.pack(a.run_dir, a.out, version=a.version or "1.0.0", name=a.name)
        print(f"packed {len(hub.verify(out)['files'])} files -> {out}")
    elif a.action == "verify":
        from pathlib import Path

        from ..adaptation.backbone_head import RECORD, verify_head
        from ..hub.sources import is_sources_folder, verify_sources

        if is_sources_folder(a.path):
            m = verify_sources(a.path)
            n = sum(len(e["files"]) for e in m["entries"].values())
            print(f"{a.path}: {len(m['entries'])} shipped source adapters, {n} files verified")
        elif (Path(a.path) / RECORD).is_file():
            r = verify_head(a.path)
            print(f"{a.path}: MLM head of {r['backbone']} ({r['digest']}), checksum verified")
        else:
            m = hub.verify(a.path)
            print(f"{a.path}: {m['name']} {m['version']} ({m['target']}, {m['base_model']}): "
                  f"{len(m['files'])} files verified")
    elif a.action == "install":
        dest = hub.install(a.path, a.hub, force=a.force)
        print(f"installed -> {dest}")
    elif a.action == "push":
        print(f"pushed -> {hub.push(a.path, a.repo, remote=a.remote)}")
    elif a.action == "pull":
        dest = hub.pull(a.repo, remote=a.remote, version=a.version, hub_dir=a.hub, force=a.force)
        print(f"pulled and installed -> {dest}")
    return 0


def add_parser(sub) -> None:
    """Register ``hub`` and its actions on the subparsers ``sub``."""
    from ..registry import TASKS

    h = sub.add_parser("hub", help="trained-language artifacts: list, show, pack, verify, install, push, pull")
    hs = h.add_subparsers(dest="action", required=True)
    hl = hs.add_parser("list", help="artifacts installed in the local hub")
    hl.add_argument("--target")
    hl.add_argument("--task", choices=TASKS.names())
    hsh = hs.add_parser("show", help="manifest of an installed artifact (checksums verified)")
    hsh.add_argument("target")
    hsh.add_argument("--version")
    hp = hs.add_parser("pack", help="pack a finished run into an artifact folder")
    hp.add_argument("run_dir")
    hp.add_argument("--out", required=True)
    hp.add_argument("--version", default="1.0.0")
    hp.add_argument("--name", help="default unibridge-<target>-<base model>")
    hps = hs.add_parser("pack-sources", help="pack a run's source language and task adapters as shipped sources "
                                             "(restored by any run with the same settings)")
    hps.add_argument("run_dir")
    hps.add_argument("--out", help="default adapters_hub/sources of this repository")
    hps.add_argument("--float32", action="store_true", help="keep float32 weights (default float16)")
    hv = hs.add_parser("verify", help="check an artifact folder, the shipped sources folder or a backbone MLM "
                                      "head folder against its checksums")
    hv.add_argument("path")
    hi = hs.add_parser("install", help="verify and install an artifact folder into the local hub")
    hi.add_argument("path")
    hi.add_argument("--force", action="store_true", help="replace the same name and version")
    hpu = hs.add_parser("push", help="publish a verified artifact to a Hugging Face repo (or --remote folder)")
    hpu.add_argument("path")
    hpu.add_argument("repo", help="owner/name")
    hpl = hs.add_parser("pull", help="fetch, verify and install an artifact from a Hugging Face repo (or --remote)")
    hpl.add_argument("repo", help="owner/name")
    hpl.add_argument("--version", help="default: newest (--remote) or the main branch")
    hpl.add_argument("--force", action="store_true")
    for sp in (hpu, hpl):
        sp.add_argument("--remote", help="a shared folder instead of the Hugging Face hub")
    for sp in (hl, hsh):
        sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    for sp in (hl, hsh, hi, hpl):
        sp.add_argument("--hub", help="hub folder (default $UNIBRIDGE_HUB, else hub/ in the unibridge cache folder)")
    h.set_defaults(fn=cmd_hub)
