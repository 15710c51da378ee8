"""Shared fixtures: the real data root and a tiny config-built backbone (hidden 32, 2 layers)."""

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
    """A tiny random BertModel with the me5-small (XLM-R) tokenizer, loadable by path."""
    from unibridge.testing import make_tiny_backbone

    return make_tiny_backbone(tmp_path_factory.mktemp("tiny-base"))
