"""``unibridge recipes``: the target recipes and which of their data is here, on the hub, or missing;
``unibridge config``: one recipe's effective settings and where each comes from."""

from __future__ import annotations

import json

from ..errors import UniBridgeError
from .options import text_table


def cmd_recipes(a) -> int:
    """``unibridge recipes``: per recipe its tasks and which data files are here, on the hub or missing."""
    from ..recipes import recipe_files, recipe_status, recipe_table

    if a.markdown:
        from ..transfer import recorded_scores

        print(recipe_table(a.folder, recorded=recorded_scores(a.grids)))
        return 0
    rows, records = [], []
    for f in recipe_files(a.folder):
        try:
            st = recipe_status(f, a.runs)
        except UniBridgeError as e:  # one broken recipe does not hide the others
            rows.append([f.stem, "", "", "", "", f"error: {e}"])
            records.append({"recipe": f.stem, "error": str(e)})
            continue
        rows.append([f.stem, ",".join(st.recipe.tasks), len(st.here), len(st.hub), len(st.missing),
                     " ".join(map(str, st.missing))])
        records.append({"recipe": f.stem, "tasks": list(st.recipe.tasks), "here": [str(x) for x in st.here],
                        "hub": [str(x) for x in st.hub], "missing": [str(x) for x in st.missing],
                        "last_scores": {t: {"metric": m, "score": v} for t, (m, v) in st.scores.items()},
                        "last_run": st.run})
    if a.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    print(text_table(rows, ["recipe", "tasks", "files here", "hub datasets", "missing", "missing files"]))
    return 0


def cmd_config(a) -> int:
    """``unibridge config``: every effective setting of a recipe with a profile and ``--set``
    changes applied, and the layer it comes from (``_base.yaml:cpu``, ``tam.yaml``, ``--set``, ``default``)."""
    from ..config import effective_settings, parse_settings

    rows = effective_settings(a.recipe, a.profile, parse_settings(a.set or []))
    if a.changed:
        rows = [r for r in rows if r[2] != "default"]
    if a.json:
        print(json.dumps([{"key": k, "value": v, "from": o} for k, v, o in rows], indent=2, ensure_ascii=False))
        return 0
    def shown(v) -> str:  # long lists are cut in the table (--json prints them whole)
        text = json.dumps(v, ensure_ascii=False)
        return text if len(text) <= 72 else text[:71] + "…"
    print(text_table([[k, shown(v), o] for k, v, o in rows], ["setting", "value", "from"]))
    return 0


def add_parser(sub) -> None:
    """Register ``recipes`` and ``config`` on the subparsers ``sub``."""
    rc = sub.add_parser("recipes", help="list the target recipes and which of their data is here, on the hub, or missing")
    rc.add_argument("folder", nargs="?", default="recipes", help="recipe folder (default recipes)")
    rc.add_argument("--runs", default="runs", help="runs folder whose finished runs give --json its last scores "
                                                    "(default runs)")
    rc.add_argument("--markdown", action="store_true", help="print the Markdown table of recipes/README.md "
                                                             "(scores from the recorded grids of --grids)")
    rc.add_argument("--grids", default="docs/grid/defaults.txt",
                    help="file listing the recorded grids of docs/results.md's current-defaults table "
                         "(default docs/grid/defaults.txt)")
    rc.add_argument("--json", action="store_true", help="print a JSON list with one record per recipe")
    rc.set_defaults(fn=cmd_recipes)

    cf = sub.add_parser("config", help="a recipe's effective settings with a profile applied, and where each "
                                       "comes from (a file, a file's profile, --set or the default)")
    cf.add_argument("recipe", help="recipe YAML, e.g. recipes/tam.yaml")
    cf.add_argument("--profile", help="profile of the recipe: cpu, smoke, paper ...")
    cf.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="change a setting, e.g. task.train.max_steps=300 (repeatable; YAML values)")
    cf.add_argument("--changed", action="store_true", help="only the settings a layer sets (no defaults)")
    cf.add_argument("--json", action="store_true", help="print a JSON list of {key, value, from} records")
    cf.set_defaults(fn=cmd_config)
