"""Your own images: ImageFolder zips and folders built here, each bad case refused with its
message and nothing stored changed; the stored arrays, the split and the registry."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnkit import data, datainfo, userdata
from nnkit.config import RunConfig, validate
from nnkit.imagefolder import Limits, UserDataError, decode

CLASSES = ("cat", "dog", "owl")
PER_CLASS = 10  # images per class in the tiny sets (2 of each held out at the 0.2 share)


def png(seed: int, size=(12, 9), mode="RGB") -> bytes:
    """A small random image file."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else (4,) if mode == "RGBA" else ())
    b = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(b, "PNG")
    return b.getvalue()


def image_folder(per_class: int = PER_CLASS, classes=CLASSES, top: str = "pets") -> dict:
    """{member name: bytes} of an ImageFolder, inside one enclosing folder like a zipped one."""
    return {f"{top}/{c}/{i:03d}.png": png(100 * k + i) for k, c in enumerate(classes)
            for i in range(per_class)}


def make_zip(members: dict, links: tuple[str, ...] = ()) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, raw in members.items():
            z.writestr(name, raw)
        for name in links:  # a symlink entry as Info-ZIP writes one (mode in external_attr)
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return b.getvalue()


def stored(root: Path) -> dict[str, bytes]:
    """Every file under the data folder, by path: what must not change on a refusal."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def root(tmp_path) -> Path:
    """A data folder that already holds one user dataset."""
    folder = tmp_path / "data"
    userdata.add("kept", make_zip(image_folder()), root=folder)
    return folder


def test_a_zip_becomes_arrays_split_per_class_and_a_dataset_everywhere(root):
    s = userdata.add("pets", make_zip(image_folder()), shape="rgb32", root=root)
    assert s.info.classes == CLASSES and s.info.input_shape == (3, 32, 32)
    assert s.train_counts == (8, 8, 8) and s.test_counts == (2, 2, 2)  # 0.2 of 10 per class
    assert s.skipped == 0 and s.ignored == 0
    x, y = userdata.load_arrays("pets", True, root)
    tx, ty = userdata.load_arrays("pets", False, root)
    assert x.dtype == np.uint8 and x.shape == (24, 3, 32, 32) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [8, 8, 8] and np.bincount(ty).tolist() == [2, 2, 2]
    assert len({r.tobytes() for r in np.concatenate([x, tx])}) == 30  # no image in both parts
    assert set(y[:6].tolist()) != {y[0]}  # training order shuffled across classes
    mean = (x.astype(np.float64) / 255).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(s.info.mean, mean, atol=1e-12)
    assert "pets" in datainfo.names(root) and datainfo.info("pets", root).source == "user"
    bx, by = data.load_split("pets", train=True, root=root)
    assert tuple(bx.shape) == (24, 3, 32, 32) and by.tolist() == y.tolist()
    assert data.check("pets", root) == {}


def test_the_split_is_seeded_and_independent_of_member_order(tmp_path):
    members = image_folder()
    backwards = dict(reversed(list(members.items())))
    userdata.add("a", make_zip(members), root=tmp_path, seed=3)
    userdata.add("b", make_zip(backwards), root=tmp_path, seed=3)
    userdata.add("c", make_zip(members), root=tmp_path, seed=4)
    a, b, c = (userdata.load_arrays(n, False, tmp_path)[0] for n in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_share_is_kept_per_class_with_at_least_one(tmp_path):
    y = np.repeat(np.arange(3), [5, 20, 40])
    train, test = userdata.split(y, 0.1, seed=0)
    assert np.bincount(y[test]).tolist() == [1, 2, 4]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(65))


def test_a_folder_with_junk_mixed_sizes_and_modes(tmp_path):
    folder = tmp_path / "imgs"
    for k, c in enumerate(("a", "b")):
        (folder / c).mkdir(parents=True)
        for i in range(6):
            mode = ("RGB", "RGBA", "L")[i % 3]
            (folder / c / f"{i}.png").write_bytes(png(10 * k + i, (20 + 7 * i, 10 + i), mode))
        (folder / c / "notes.txt").write_text("not an image")
    (folder / "README.md").write_text("outside any class")
    (folder / ".DS_Store").write_bytes(b"\0")
    s = userdata.add("mixed", folder, root=tmp_path / "data")
    assert s.info.input_shape == (1, 28, 28) and s.info.classes == ("a", "b")
    assert (s.skipped, s.ignored) == (2, 1)  # the two notes, the README
    assert any("notes.txt" in e for e in s.skipped_examples)
    x, _ = userdata.load_arrays("mixed", True, tmp_path / "data")
    assert x.shape[1:] == (1, 28, 28)


def test_decode_converts_modes_and_sizes():
    grey16 = Image.fromarray(np.full((5, 7), 65535, np.uint16))
    b = io.BytesIO()
    grey16.save(b, "PNG")
    assert decode(b.getvalue(), (1, 28, 28)).min() == 255  # 16-bit white stays white
    clear = Image.new("RGBA", (9, 9), (0, 0, 0, 0))  # fully transparent: shown over white
    b = io.BytesIO()
    clear.save(b, "PNG")
    assert decode(b.getvalue(), (3, 32, 32)).shape == (3, 32, 32)
    assert decode(b.getvalue(), (3, 32, 32)).min() == 255
    with pytest.raises((ValueError, OSError)):
        decode(b"GIF89a nonsense", (1, 28, 28))


LIMITS = Limits(max_upload_bytes=200_000, max_total_bytes=2_000_000, max_ratio=50,
                max_members=200, max_file_bytes=1_500_000)


def _bomb() -> dict:
    return {**image_folder(), "pets/cat/huge.bmp": b"\0" * 1_400_000}  # packs to ~1.4 kB


def _oversized() -> dict:
    return {**image_folder(), "pets/cat/big.bin": np.random.default_rng(0).bytes(250_000)}


BAD = [
    ("not a zip", b"PK but not really a zip file", "is not a zip file"),
    ("a zip bomb (ratio)", make_zip(_bomb()), r"times larger than it is packed"),
    ("too much unpacked", make_zip({**image_folder(), **{f"pets/dog/z{i}": b"\0" * 900_000
                                                         for i in range(3)}}),
     r"would unpack to 2.\d MB, more than the cap of 1.9 MB"),
    ("too many members", make_zip({f"pets/cat/{i}": b"" for i in range(201)}),
     "201 entries, more than the cap of 200"),
    ("climbs out", make_zip({**image_folder(), "pets/cat/../../evil.png": png(1)}),
     "climbs out of its folder"),
    ("absolute path", make_zip({**image_folder(), "/etc/cron.d/x.png": png(1)}),
     "absolute path"),
    ("windows drive", make_zip({**image_folder(), "C:\\x\\y.png": png(1)}), "absolute path"),
    ("a link", make_zip(image_folder(), links=("pets/cat/link.png",)), "holds a link"),
    ("one class", make_zip(image_folder(classes=("cat",))),
     r"at least 2 class folders .*found 1: 'cat'"),
    ("no class", make_zip({"a.png": png(1), "b.png": png(2)}), "found 0"),
    ("too few images", make_zip(image_folder(per_class=3)),
     r"each class needs at least 5 images that can be read: 'cat' has 3"),
    ("undecodable, too few left", make_zip({**image_folder(per_class=4),
                                            "pets/dog/x.png": b"garbage"}),
     r"'dog' has 4 \(1 could not be read\)"),
    ("over the upload cap", make_zip(_oversized()), r"is 0.\d MB, more than the cap of 0.2 MB"),
]


@pytest.mark.parametrize("source, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_its_message_and_nothing_changes(root, source, message):
    before = stored(root)
    with pytest.raises(UserDataError, match=message):
        userdata.add("new", source, root=root, limits=LIMITS)
    assert stored(root) == before  # no half-written dataset, the kept one untouched
    assert datainfo.names(root)[-1] == "kept" and "new" not in datainfo.names(root)


@pytest.mark.parametrize("name, message", [
    ("mnist", "is the name of a built-in dataset"),
    ("cifar10", "is the name of a built-in dataset"),
    ("kept", "exists already"),
    ("Bad Name", "1 to 40 characters of a-z"),
    ("../up", "1 to 40 characters of a-z"),
])
def test_names_that_clash_or_are_not_plain_are_refused(root, name, message):
    before = stored(root)
    with pytest.raises(UserDataError, match=message):
        userdata.add(name, make_zip(image_folder()), root=root)
    assert stored(root) == before


def test_a_folder_with_a_link_is_refused(tmp_path):
    folder = tmp_path / "imgs"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(5):
            (folder / c / f"{i}.png").write_bytes(png(i))
    (folder / "a" / "escape").symlink_to("/etc")
    with pytest.raises(UserDataError, match="is a link"):
        userdata.add("linked", folder, root=tmp_path / "data")
    assert not (tmp_path / "data" / "user" / "linked").exists()


def test_a_member_that_lies_about_its_size_is_skipped_not_trusted(tmp_path):
    raw = bytearray(make_zip(image_folder()))
    target = b"pets/cat/000.png"
    # shrink the declared size in the central directory of one member
    at = raw.rfind(target)  # the central directory's copy of the name
    header = at - 46  # its central directory entry starts 46 bytes before the name
    size = int.from_bytes(raw[header + 24:header + 28], "little")
    raw[header + 24:header + 28] = (size - 10).to_bytes(4, "little")
    s = userdata.add("liar", bytes(raw), root=tmp_path)  # zipfile stops at the declared size
    assert s.skipped == 1 and s.skipped_examples == ("pets/cat/000.png",)  # and its CRC fails
    assert s.train_counts[0] + s.test_counts[0] == PER_CLASS - 1


def test_rename_changes_the_title_and_keeps_the_name_runs_use(root):
    ds = userdata.rename("kept", "  My   pets ", root)
    assert ds.title == "My pets" and ds.name == "kept"
    assert datainfo.info("kept", root).title == "My pets"
    with pytest.raises(UserDataError, match="already the title of dataset 'mnist'"):
        userdata.rename("kept", "MNIST digits", root)
    with pytest.raises(UserDataError, match="built-in dataset"):
        userdata.rename("mnist", "digits", root)
    with pytest.raises(UserDataError, match="1 to 60 characters"):
        userdata.rename("kept", "x" * 61, root)


def test_delete_refuses_built_ins_and_busy_datasets(root):
    with pytest.raises(UserDataError, match="built-in dataset"):
        userdata.delete("mnist", root)
    with pytest.raises(UserDataError, match="2 run\\(s\\) on 'kept' are queued or training"):
        userdata.delete("kept", root, in_use=2)
    assert "kept" in datainfo.names(root)
    userdata.delete("kept", root)
    assert "kept" not in datainfo.names(root) and not list((root / "user").iterdir())
    with pytest.raises(datainfo.DataError, match="unknown dataset 'kept'"):
        datainfo.info("kept", root)


def test_a_user_dataset_is_a_valid_run_setting(root, monkeypatch):
    monkeypatch.setenv("NNKIT_DATA", str(root))
    assert validate(RunConfig(dataset="kept", model="fast-cnn")) == []
    assert validate(RunConfig(dataset="kept", model="mlp-64-64")) == []
    errors = validate(RunConfig(dataset="gone"))
    assert errors and "kept" in str(errors[0])


def test_damaged_arrays_are_a_data_error_not_a_pickle(root):
    (root / "user" / "kept" / "test_x.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(datainfo.DataError, match="missing or damaged"):
        userdata.load_arrays("kept", False, root)
