"""The Home page through the real app under AppTest: what is ready, and where to go."""

from __future__ import annotations

from apptest import open_page, texts


def test_home_says_what_is_ready_above_links_to_every_page():
    at = open_page("home")
    assert not at.exception
    said = texts(at)
    assert "Runs stored: 0" in said  # a fresh NNKIT_HOME
    assert "Checking what this machine" not in said  # the placeholder was replaced
    assert "MNIST: not prepared yet" in said  # NNKIT_DATA points at an empty folder
    assert any(f"Device: {d}" in said for d in ("CPU", "CUDA", "MPS"))
    kinds = [type(e).__name__ for e in at.main]
    links = [e for e in at.main if type(e).__name__ == "PageLink"]
    assert len(links) == 8 and "Train a network live" in links[0].proto.label
    # the status is filled in last (it imports torch) but shows in its place, above the links
    assert kinds.index("Metric") < kinds.index("Subheader")


def test_home_names_the_data_folder_where_nnkit_data_points(tmp_path, monkeypatch, nnkit_home):
    elsewhere = tmp_path / "datasets-elsewhere"
    monkeypatch.setenv("NNKIT_DATA", str(elsewhere))
    at = open_page("home")
    assert not at.exception
    assert f"Runs and checkpoints live in {nnkit_home}; datasets in {elsewhere}." in texts(at)
    monkeypatch.delenv("NNKIT_DATA")  # the default: under the nnkit folder
    at = open_page("home")
    assert f"datasets in {nnkit_home / 'data'}." in texts(at)
