"""Shared fixtures: the real data root, a tiny config-built backbone (hidden 32, 2 layers), and one
finished tiny run that the pipeline, CLI and hub tests share."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ.setdefault("UNIBRIDGE_DATA", str(DEFAULT_DATA))
DATA = Path(os.environ["UNIBRIDGE_DATA"])
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore", category=FutureWarning)


def data_available() -> bool:
    return DATA.is_dir()


needs_data = pytest.mark.skipif(not data_available(), reason="UNIBRIDGE_DATA not present")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A tiny random BertModel with the me5-small (XLM-R) tokenizer, loadable by path, with its MLM
    head fitted once for the session on a few lines and saved with it."""
    from unibridge.testing import make_tiny_backbone

    return make_tiny_backbone(tmp_path_factory.mktemp("tiny-base"))


def tiny_recipe(base) -> dict:
    """A recipe for the tiny backbone at ``base`` on real, truncated Amharic data: two sources
    (en, ru), the three tasks, every stage a few steps."""
    return {
        "target": "amh", "base_model": str(base), "seed": 1, "mono_max_lines": 600,
        "mono": ["mono/masakhane_ner_text_by_language/amharic/amharic_news.txt"],
        "sources": {
            "en": {"text": "parallel/flores200_devtest/devtest/eng_Latn.devtest",
                   "parallel": "parallel/unibridge_alignment/flores/am/amh_Ethi-eng_Latn.txt",
                   "pos": "ud/UD_English-EWT/en_ewt-ud-dev.conllu", "ner": "ner/wikiann_babelscape/en/val.conllu",
                   "nli": "nli/xnli_dev_xtreme/dev-en.tsv"},
            "ru": {"parallel": "parallel/flores200_devtest/devtest/amh_Ethi.devtest|"
                               "parallel/flores200_devtest/devtest/rus_Cyrl.devtest",
                   "pos": "ud/UD_Russian-GSD/ru_gsd-ud-dev.conllu", "nli": "nli/xnli_dev_xtreme/dev-ru.tsv"},
        },
        # (no Amharic NLI set exists; the Quechua AmericasNLI test only exercises the NLI path)
        # (Amharic has no UPOS dev split; any labelled UPOS file exercises the dev path)
        "tasks": {"pos": {"test": "ud/UD_Amharic-ATT/am_att-ud-test.conllu",
                          "dev": "ud/UD_Tamil-TTB/ta_ttb-ud-dev.conllu"},
                  "ner": {"test": "ner/masakhaner/amh/test.txt", "dev": "ner/masakhaner/amh/dev.txt",
                          "label_map": "masakhaner"},
                  "nli": {"test": "nli/americasnli/test/quy.tsv"}},
        "vocab": {"v_i": 600, "delta": 200, "eps": 1.0e9, "sample_words": 32},
        "embeddings": {"method": "unibridge", "static_dim": 64, "static_epochs": 1},
        "adaptation": {"head_fit_steps": 2,
                       "train": {"max_steps": 2, "batch_size": 4, "max_length": 24}},
        "source_adaptation": {"head_fit_steps": 2,
                              "train": {"max_steps": 1, "batch_size": 4, "max_length": 24, "max_examples": 40}},
        "task": {"train": {"max_steps": 2, "batch_size": 4, "max_length": 24, "max_examples": 40},
                 "dev_max_examples": 12},
        "evaluation": {"max_examples": 12, "batch_size": 8},
    }


@pytest.fixture(scope="session")
def finished_run(tiny_base, tmp_path_factory):
    """Every stage of :func:`tiny_recipe` run once for the whole session: (run_dir, RunResult).
    Tests read it or copy it; none may change what is in it."""
    from unibridge.config import Recipe
    from unibridge.pipeline import Pipeline

    run_dir = tmp_path_factory.mktemp("run")
    result = Pipeline(Recipe.from_dict(tiny_recipe(tiny_base)), run_dir).run()
    return run_dir, result
