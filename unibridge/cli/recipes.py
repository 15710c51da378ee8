"""``unibridge recipes``: the target recipes and which of their data is here, on the hub, or missing."""

from __future__ import annotations

import json

from ..errors import UniBridgeError
from .options import text_table


def cmd_recipes(a) -> int:
    """``unibridge recipes``: per recipe its tasks and which data files are here, on the hub or missing."""
    from ..recipes import recipe_files, recipe_status, recipe_table

    if a.markdown:
        print(recipe_table(a.folder, a.runs))
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
                        "hub": [str(x) for x in st.hub], "missing": [str(x) for x in st.missing]})
    if a.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    print(text_table(rows, ["recipe", "tasks", "files here", "hub datasets", "missing", "missing files"]))
    return 0


def add_parser(sub) -> None:
    """Register ``recipes`` on the subparsers ``sub``."""
    rc = sub.add_parser("recipes", help="list the target recipes and which of their data is here, on the hub, or missing")
    rc.add_argument("folder", nargs="?", default="recipes", help="recipe folder (default recipes)")
    rc.add_argument("--runs", default="runs", help="runs folder for the last scores (default runs)")
    rc.add_argument("--markdown", action="store_true", help="print the Markdown table of recipes/README.md")
    rc.add_argument("--json", action="store_true", help="print one JSON record per recipe")
    rc.set_defaults(fn=cmd_recipes)
