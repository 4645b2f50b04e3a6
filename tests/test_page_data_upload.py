"""The Data page's upload through the real app under AppTest: a zip becomes a dataset with its
counts and gallery; a bad zip is an error and changes nothing; rename and delete."""

from __future__ import annotations

from apptest import button, open_page, texts
from test_userdata import image_folder, make_zip

from nnkit import datainfo, paths


def upload(at, raw: bytes, name: str, shape: str = "gray28"):
    at.file_uploader(key="ud_zip").set_value(("pets.zip", raw, "application/zip"))
    at.text_input(key="ud_name").set_value(name)
    at.radio(key="ud_shape").set_value(shape)
    at.run()
    button(at, "Add dataset").click()
    return at.run()


def test_upload_shows_the_new_dataset_then_rename_and_delete():
    at = open_page("data")
    assert not at.exception
    at = upload(at, make_zip(image_folder(classes=("cat", "dog", "o*w_l"))), "pets", "rgb32")
    assert not at.exception, at.exception
    assert at.selectbox(key="data_name").value == "pets"  # the page shows what was added
    said = texts(at)
    assert "3 classes, 32 × 32 colour, 24 training and 6 test images (20% of each class" in said
    counts = at.dataframe[0].value  # the counts table comes first
    assert counts["class"].tolist() == ["cat", "dog", "o*w_l"]
    assert counts["train"].tolist() == [8, 8, 8] and counts["test"].tolist() == [2, 2, 2]
    assert "Training images: 24" in said  # the page's own view of it: gallery, counts, stats
    assert "pets" in datainfo.names()

    at.text_input(key="ud_title_pets").set_value("My pets")
    button(at, "Rename").click()
    at.run()
    assert not at.exception and datainfo.info("pets").title == "My pets"
    at.checkbox(key="ud_sure").check()
    at.run()
    button(at, "Delete").click()
    at.run()
    assert not at.exception
    assert "pets" not in datainfo.names() and at.selectbox(key="data_name").value == "mnist"


def test_a_bad_zip_is_an_error_and_nothing_is_stored():
    at = open_page("data")
    at = upload(at, b"this is no zip", "broken")
    assert not at.exception
    assert [e.value for e in at.error] == ["broken\\.zip is not a zip file: zip the folder that "
                                           "holds one folder per class"] or \
        "is not a zip file" in at.error[0].value
    assert datainfo.names()[-1] == "gaussians"
    assert not (paths.data_dir() / "user").exists() or not any(
        (paths.data_dir() / "user").iterdir())
