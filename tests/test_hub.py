"""The local hub's location (the packing, install and pull round trips run on a finished tiny run
in test_pipeline.py)."""

from pathlib import Path

from unibridge.hub.artifact import default_hub_dir


def test_the_local_hub_lives_in_the_cache_folder_not_in_the_source_tree(monkeypatch, tmp_path):
    monkeypatch.delenv("UNIBRIDGE_HUB", raising=False)
    monkeypatch.setenv("UNIBRIDGE_CACHE", str(tmp_path / "cache"))
    assert default_hub_dir() == tmp_path / "cache" / "hub"
    monkeypatch.setenv("UNIBRIDGE_HUB", str(tmp_path / "my-hub"))
    assert default_hub_dir() == tmp_path / "my-hub"
    monkeypatch.delenv("UNIBRIDGE_HUB")
    monkeypatch.delenv("UNIBRIDGE_CACHE")
    assert default_hub_dir().name == "hub" and default_hub_dir().parent != Path("adapters_hub")
    assert not (Path(__file__).parents[1] / "adapters_hub" / "index.json").exists()
