"""Tests for superconv.data: loading through torchvision's classes from tiny files written
in torchvision's exact on-disk formats, the search order and its errors, md5 checks and their
marker, subsets, and the on-device batches (determinism, resume, augmentation, normalization)."""

import dataclasses
import gzip
import hashlib
import itertools
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from superconv import data
from superconv.data import (Batches, DatasetCorruptError, DatasetNotFoundError, Split, balanced_subset,
                            eval_batches, holdout, load)

REAL_FASHION = "/usr/share/datasets/fashion-mnist"


# ----------------------------------------------------------------------------- fixtures & writers
@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Never touch the user's real cache, environment or the machine's Debian dataset."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("SUPERCONV_DATA", raising=False)
    monkeypatch.delenv("SUPERCONV_DOWNLOAD", raising=False)
    monkeypatch.setenv("SUPERCONV_OFFLINE", "1")  # tests never reach for the network by themselves
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    monkeypatch.setattr(data, "_TRAIN_STATS", {})
    monkeypatch.setattr(data, "CHECKSUM_OVERRIDES", {})


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def register(folder):
    """Declare the tiny files now in ``folder`` as the expected ones (they can never match
    torchvision's published md5s); data then checks them exactly as it checks the originals."""
    data.register_checksums(folder, {f.name: md5(f) for f in Path(folder).iterdir()
                                     if f.is_file() and f.name != data.MARKER})


@pytest.fixture
def hash_calls(monkeypatch):
    calls = []
    real = data._file_md5
    monkeypatch.setattr(data, "_file_md5", lambda path, header=None: calls.append(Path(path).name) or real(path, header))
    return calls


def write_idx(path, array, gz):
    """IDX file: 0x00 0x00, type 0x08 (uint8), number of dims, big-endian uint32 dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    blob = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(blob)
    else:
        path.write_bytes(blob)


def make_idx_root(root, folder="MNIST", n_train=30, n_test=20, gz=True, seed=0, hw=(28, 28), checksums=True):
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, *hw), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        rng.shuffle(labels)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, gz)
        arrays[prefix] = (images, labels)
    if checksums:
        register(raw)
    return arrays


def make_cifar10_root(root, per_batch=4, n_test=6, seed=0, checksums=True):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_rows, train_labels = [], []
    for i in range(1, 6):
        rows = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps({"data": rows, "labels": labels}))
        train_rows.append(rows)
        train_labels += labels
    test_rows = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    test_labels = [int(v) for v in rng.integers(0, 10, n_test)]
    (folder / "test_batch").write_bytes(pickle.dumps({"data": test_rows, "labels": test_labels}))
    names = [f"class{i}" for i in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    if checksums:
        register(folder)
    return np.concatenate(train_rows), np.array(train_labels), test_rows, np.array(test_labels), names


def make_cifar100_root(root, n_train=12, n_test=5, seed=0, checksums=True):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for part, n in (("train", n_train), ("test", n_test)):
        rows = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, n)]
        coarse = [v // 5 for v in fine]
        (folder / part).write_bytes(pickle.dumps({"data": rows, "fine_labels": fine, "coarse_labels": coarse}))
        out[part] = (rows, np.array(fine))
    names = [f"fine{i}" for i in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": names,
                                                "coarse_label_names": [f"coarse{i}" for i in range(20)]}))
    if checksums:
        register(folder)
    return out, names


def numpy_stats(images_nchw):
    x = images_nchw.astype(np.float64) / 255
    return x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))


def toy_split(n=40, c=3, h=6, w=5, classes=4, seed=0):
    """A split built directly (no files); pixel values 1..255 so zero padding is recognisable."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(1, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % classes
    return Split(images, labels, mean=(0.4,) * c, std=(0.2,) * c, classes=[f"c{i}" for i in range(classes)],
                 name="toy", train=True)


def unnormalize(x, split):
    mean = torch.tensor(split.mean).view(-1, 1, 1)
    std = torch.tensor(split.std).view(-1, 1, 1)
    return ((x * std + mean) * 255).round().to(torch.uint8)


# ----------------------------------------------------------------------------- loading
@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, name, folder, gz):
    arrays = make_idx_root(tmp_path, folder, gz=gz)
    train, test = load(name, root=tmp_path), load(name, train=False, root=tmp_path)
    for split, (images, labels), is_train in ((train, arrays["train"], True), (test, arrays["t10k"], False)):
        assert split.images.dtype == torch.uint8 and split.images.shape == (len(images), 1, 28, 28)
        assert split.labels.dtype == torch.int64
        assert np.array_equal(split.images[:, 0].numpy(), images)
        assert np.array_equal(split.labels.numpy(), labels)
        assert split.classes == list(getattr(torchvision.datasets, folder).classes) and split.num_classes == 10
        assert split.name == name and split.train is is_train and split.device == torch.device("cpu")
    mean, std = numpy_stats(arrays["train"][0][:, None])
    for split in (train, test):  # the test split carries the *train* statistics
        assert isinstance(split.mean, tuple) and isinstance(split.mean[0], float)
        np.testing.assert_allclose(split.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(split.std, std, rtol=1e-12)
    assert train.description == f"{name} train, 30 images"


def test_cifar10_round_trip(tmp_path):
    train_rows, train_labels, test_rows, test_labels, names = make_cifar10_root(tmp_path)
    train, test = load("cifar10", root=tmp_path), load("cifar10", train=False, root=tmp_path)
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (6, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    # CIFAR rows are 1024 red, then green, then blue values, each row-major 32x32: that is NCHW
    assert np.array_equal(train.images.numpy(), train_rows.reshape(-1, 3, 32, 32))
    assert np.array_equal(test.images.numpy(), test_rows.reshape(-1, 3, 32, 32))
    assert np.array_equal(train.labels.numpy(), train_labels) and np.array_equal(test.labels.numpy(), test_labels)
    assert train.classes == names == test.classes
    mean, std = numpy_stats(train_rows.reshape(-1, 3, 32, 32))
    for split in (train, test):
        np.testing.assert_allclose(split.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(split.std, std, rtol=1e-12)


def test_cifar100_round_trip(tmp_path):
    parts, names = make_cifar100_root(tmp_path)
    train, test = load("cifar100", root=tmp_path), load("cifar100", train=False, root=tmp_path)
    assert np.array_equal(train.images.numpy(), parts["train"][0].reshape(-1, 3, 32, 32))
    assert np.array_equal(train.labels.numpy(), parts["train"][1])  # fine labels
    assert np.array_equal(test.labels.numpy(), parts["test"][1])
    assert train.classes == names and train.num_classes == 100
    np.testing.assert_allclose(test.mean, numpy_stats(parts["train"][0].reshape(-1, 3, 32, 32))[0], rtol=1e-12)


def test_train_stats_computed_once(tmp_path, monkeypatch):
    make_idx_root(tmp_path)
    calls = []
    real = data._channel_stats
    monkeypatch.setattr(data, "_channel_stats", lambda images: calls.append(1) or real(images))
    load("mnist", train=False, root=tmp_path)
    load("mnist", train=False, root=tmp_path)
    load("mnist", root=tmp_path)
    assert len(calls) == 1


def test_load_to_device_and_subset_keep_everything(tmp_path):
    make_idx_root(tmp_path)
    split = load("mnist", root=tmp_path, device=torch.device("cpu"))
    part = split.subset([3, 1, 2], note="three")
    assert torch.equal(part.images, split.images[[3, 1, 2]]) and torch.equal(part.labels, split.labels[[3, 1, 2]])
    assert (part.mean, part.std, part.classes, part.name, part.train) == (
        split.mean, split.std, split.classes, split.name, split.train)
    assert part.description == "mnist train, 3 of 30 (three)"
    moved = part.to("cpu")
    assert moved.description == part.description and torch.equal(moved.images, part.images)


# ----------------------------------------------------------------------------- search order & errors
def test_search_order(tmp_path, monkeypatch):
    arg, env, cache = tmp_path / "arg", tmp_path / "env", data.user_cache_dir()
    assert cache == tmp_path / "xdg-cache" / "superconv" / "data"
    first = {where: make_idx_root(where, seed=i)["train"][0] for i, where in enumerate((arg, env, cache))}

    def source(split):
        return next(w for w, images in first.items() if np.array_equal(split.images[:, 0].numpy(), images))

    monkeypatch.setenv("SUPERCONV_DATA", str(env))
    assert source(load("mnist", root=arg)) == arg  # root argument beats the environment variable
    assert source(load("mnist")) == env  # environment variable beats the user cache
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SUPERCONV_DATA", os.pathsep.join([str(tmp_path / "empty"), str(env)]))
    assert source(load("mnist")) == env  # several folders, in order
    monkeypatch.delenv("SUPERCONV_DATA")
    assert source(load("mnist")) == cache
    assert load("mnist").root == str(cache)


def test_cache_without_xdg_uses_home(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.user_cache_dir() == tmp_path / "home" / ".cache" / "superconv" / "data"


def test_a_given_root_is_the_only_place_looked(tmp_path, monkeypatch):
    # what the caller names is what they get: a missing root, or one without the dataset, is an
    # error naming it -- never a silent load of the copy in $SUPERCONV_DATA or the cache
    env, cache = tmp_path / "env", data.user_cache_dir()
    make_idx_root(env), make_idx_root(cache)
    monkeypatch.setenv("SUPERCONV_DATA", str(env))
    with pytest.raises(DatasetNotFoundError, match=r"^root='.*/typo' is not a folder; allowed: an existing "
                                                   r"folder .* \(or download=True to download into it\)$"):
        load("mnist", root=tmp_path / "typo")
    (tmp_path / "other").mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", root=tmp_path / "other")
    assert str(tmp_path / "other" / "MNIST" / "raw") in str(info.value) and str(env) not in str(info.value)
    monkeypatch.setenv("SUPERCONV_DATA", os.pathsep.join([str(env), str(tmp_path / "gone")]))
    with pytest.raises(DatasetNotFoundError, match=r"^SUPERCONV_DATA=.* names '.*/gone', which is not a folder"):
        load("mnist")


def test_not_found_lists_every_place(tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    monkeypatch.setenv("SUPERCONV_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as info:
        load("fashion-mnist")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for place in (tmp_path / "env" / "FashionMNIST" / "raw",
                  data.user_cache_dir() / "FashionMNIST" / "raw", tmp_path / "no-debian"):
        assert str(place) in message
    for hint in ("'fashion-mnist'", "SUPERCONV_DATA", "apt-get install dataset-fashion-mnist", "download=True",
                 "train-images-idx3-ubyte"):
        assert hint in message

    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py") as info:
        load("cifar10")
    assert "apt-get" not in str(info.value) and "cifar-10-python.tar.gz" in str(info.value)


def test_partial_folder_is_reported(tmp_path):
    make_idx_root(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        load("mnist", root=tmp_path)


def test_debian_folder_is_staged_into_cache(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    arrays = make_idx_root(tmp_path / "build", "FashionMNIST", gz=True)
    debian.mkdir()
    for f in (tmp_path / "build" / "FashionMNIST" / "raw").iterdir():  # Debian's layout is flat
        f.rename(debian / f.name)
    register(debian)
    debian.chmod(0o555)  # read-only, like /usr/share
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    try:
        split = load("fashion-mnist", train=False)
    finally:
        debian.chmod(0o755)
    assert np.array_equal(split.images[:, 0].numpy(), arrays["t10k"][0])
    staged = data.user_cache_dir() / "debian-fashion-mnist"
    assert split.root == str(staged) and (staged / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert sorted(os.listdir(debian)) == sorted(f"{f}.gz" for f in data._expected("fashion-mnist")[1])
    marker = json.loads((staged / "FashionMNIST" / "raw" / data.MARKER).read_text())["files"]
    assert sorted(marker) == sorted(str(debian / f"{f}.gz") for f in data._expected("fashion-mnist")[1])


def test_download_when_asked_or_online(tmp_path, monkeypatch):
    calls = []

    def fake_download(self):  # stands in for the network: leaves what torchvision's download does
        calls.append(self.root)
        make_idx_root(Path(self.root), gz=True)
        make_idx_root(Path(self.root), gz=False)

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fake_download)
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load("mnist", root=tmp_path / "dl")
    assert calls == []
    split = load("mnist", root=tmp_path / "dl", download=True)
    assert calls == [str(tmp_path / "dl")] and len(split) == 30
    monkeypatch.delenv("SUPERCONV_OFFLINE")  # an online machine: the last resort is a download
    assert len(load("mnist", root=tmp_path / "dl2")) == 30 and calls[-1] == str(tmp_path / "dl2")
    monkeypatch.setenv("SUPERCONV_DOWNLOAD", "0")
    with pytest.raises(DatasetNotFoundError):
        load("mnist", root=tmp_path / "dl3")
    assert calls[-1] == str(tmp_path / "dl2")


def test_failed_download_is_reported(tmp_path, monkeypatch):
    def offline(self):
        raise RuntimeError("no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(DatasetNotFoundError, match="no network"):
        load("mnist", root=tmp_path, download=True)


@pytest.mark.parametrize("which", ["images", "labels"])
def test_truncated_idx_file(tmp_path, which):
    make_idx_root(tmp_path, gz=False)
    path = tmp_path / "MNIST" / "raw" / f"train-{which}-idx{3 if which == 'images' else 1}-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    register(path.parent)  # md5 "fine": this tests the reader's own error
    with pytest.raises(DatasetCorruptError, match="mnist") as info:
        load("mnist", root=tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value) and "delete" in str(info.value)


def test_truncated_gz_file(tmp_path):
    make_idx_root(tmp_path, "FashionMNIST", gz=True)
    path = tmp_path / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    register(path.parent)  # md5 "fine": this tests the gzip error
    with pytest.raises(DatasetCorruptError, match="fashion-mnist") as info:
        load("fashion-mnist", root=tmp_path)
    assert str(path) in str(info.value)


def test_corrupt_cifar_pickle(tmp_path):
    make_cifar10_root(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:100])
    register(path.parent)  # md5 "fine": this tests the unpickling error
    with pytest.raises(DatasetCorruptError, match="cifar10") as info:
        load("cifar10", root=tmp_path)
    assert str(tmp_path / "cifar-10-batches-py") in str(info.value)


def test_unregistered_files_fail_against_torchvisions_md5(tmp_path):
    make_cifar10_root(tmp_path, checksums=False)  # tiny files checked against the published md5s
    with pytest.raises(DatasetCorruptError) as info:
        load("cifar10", root=tmp_path)
    message = str(info.value)
    first = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    assert message.startswith(f"cifar10: {first} has md5 {md5(first)} but c99cafc152244af753f735de768cd75f "
                              "was expected (torchvision's published md5)")


# ----------------------------------------------------------------------------- md5 checks
def test_known_md5s_are_torchvisions_and_cover_every_file_read():
    tv = torchvision.datasets
    assert data.known_md5s("mnist") == dict(tv.MNIST.resources)
    assert data.known_md5s("fashion-mnist") == dict(tv.FashionMNIST.resources)
    cifar = data.known_md5s("cifar10")
    assert cifar["data_batch_1"] == tv.CIFAR10.train_list[0][1] and cifar["test_batch"] == tv.CIFAR10.test_list[0][1]
    assert cifar["batches.meta"] == tv.CIFAR10.meta["md5"]
    assert data.known_md5s("cifar100")["meta"] == tv.CIFAR100.meta["md5"]
    for name in data.DATASETS:  # every file torchvision reads has a published md5 (of it, or of its .gz)
        files = data._expected(name)[1]
        checked = [f"{f}.gz" for f in files] if data._is_idx(name) else files
        assert sorted(data.known_md5s(name)) == sorted(checked)
        assert all(len(v) == 32 for v in data.known_md5s(name).values())


@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_correct_files_pass_and_are_recorded(tmp_path, name, hash_calls):
    if name == "cifar10":
        make_cifar10_root(tmp_path)
        folder = tmp_path / "cifar-10-batches-py"
        checked = data._expected(name)[1]
    else:
        make_idx_root(tmp_path)
        folder = tmp_path / "MNIST" / "raw"
        checked = [f"{f}.gz" for f in data._expected(name)[1]]
    load(name, root=tmp_path)
    assert sorted(hash_calls) == sorted(checked)  # each file hashed once
    marker = json.loads((folder / data.MARKER).read_text())["files"]
    assert sorted(marker) == sorted(str(folder / f) for f in checked)
    for f in checked:
        st = (folder / f).stat()
        assert marker[str(folder / f)] == {"path": str(folder / f), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                           "md5": md5(folder / f)}


def test_marker_skips_rehashing(tmp_path, hash_calls):
    make_cifar10_root(tmp_path)
    load("cifar10", root=tmp_path)
    assert len(hash_calls) == 7  # 5 train batches, the test batch, the meta file
    data._TRAIN_STATS.clear()  # as in a new process: only the marker remains
    load("cifar10", root=tmp_path)
    load("cifar10", train=False, root=tmp_path)
    assert len(hash_calls) == 7


def test_changed_mtime_or_size_rehashes(tmp_path, hash_calls):
    make_idx_root(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    load("mnist", root=tmp_path)
    assert len(hash_calls) == 4
    touched = raw / "t10k-labels-idx1-ubyte.gz"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same bytes, new mtime
    load("mnist", train=False, root=tmp_path)
    assert hash_calls[4:] == [touched.name]  # only that file, and it passes
    grown = raw / "train-labels-idx1-ubyte.gz"
    grown.write_bytes(grown.read_bytes() + b"\0")  # one byte more
    with pytest.raises(DatasetCorruptError, match="train-labels-idx1-ubyte.gz has md5"):
        load("mnist", root=tmp_path)
    assert hash_calls[5:] == [grown.name]


def test_a_corrupted_byte_is_one_clear_error(tmp_path):
    make_cifar10_root(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    expected = md5(path)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one bit, same size: pickle would read it without complaint
    path.write_bytes(bytes(blob))
    with pytest.raises(DatasetCorruptError) as info:
        load("cifar10", train=False, root=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message == (f"cifar10: {path} has md5 {md5(path)} but {expected} was expected (registered with "
                       f"register_checksums); the file is damaged or not the original. Delete {path.parent} and "
                       "load with download=True to download it again, or copy the original files there again.")


def test_a_changed_expectation_rechecks(tmp_path):
    make_idx_root(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    load("mnist", root=tmp_path)
    data.register_checksums(raw, {"train-images-idx3-ubyte.gz": "0" * 32})  # marker recorded another md5
    with pytest.raises(DatasetCorruptError, match="but 0{32} was expected"):
        load("mnist", root=tmp_path)


def test_unwritable_marker_is_recorded_in_the_user_cache(tmp_path, hash_calls):
    make_cifar100_root(tmp_path)
    folder = tmp_path / "cifar-100-python"
    (folder / data.MARKER).mkdir()  # cannot be written, even as root (chmod would not stop root)
    load("cifar100", root=tmp_path)
    load("cifar100", train=False, root=tmp_path)
    assert sorted(hash_calls) == ["meta", "test", "train"]  # hashed once, recorded elsewhere
    assert len(list((data.user_cache_dir() / "verified").glob("*.json"))) == 1


def test_decompressed_files_without_md5_are_read_with_a_warning(tmp_path):
    make_idx_root(tmp_path, gz=False, checksums=False)  # torchvision publishes md5s of the .gz only
    with pytest.warns(UserWarning, match="without an md5 check"):
        assert len(load("mnist", root=tmp_path)) == 30


def test_debian_style_gzip_header_is_restored(tmp_path, hash_calls):
    # a Zalando-style .gz (stored name, the table's mtime), then its header rewritten as Debian's
    # packaging does (name dropped, mtime changed): still accepted against the original's md5
    name = "t10k-labels-idx1-ubyte"
    raw = tmp_path / "FashionMNIST" / "raw"
    make_idx_root(tmp_path, "FashionMNIST", checksums=False)
    blob = (raw / f"{name}.gz").read_bytes()
    original = raw / f"{name}.gz"
    with open(original, "wb") as f, gzip.GzipFile(filename=name, mode="wb", fileobj=f,
                                                  mtime=data._ZALANDO_GZIP_MTIME[f"{name}.gz"]) as z:
        z.write(gzip.decompress(blob))
    register(raw)
    header = original.read_bytes()
    assert header[3] == 0x08 and header[10:10 + len(name) + 1] == name.encode() + b"\0"
    normalized = b"\x1f\x8b\x08\x00" + (1591347949).to_bytes(4, "little") + header[8:10] + header[10 + len(name) + 1:]
    original.write_bytes(normalized)
    assert len(load("fashion-mnist", train=False, root=tmp_path)) == 20
    assert f"{name}.gz" in hash_calls
    original.write_bytes(normalized[:-1] + bytes([normalized[-1] ^ 1]))
    with pytest.raises(DatasetCorruptError, match=r"with Zalando's original gzip header restored\) but"):
        load("fashion-mnist", root=tmp_path)


@pytest.mark.skipif(not os.path.isdir(REAL_FASHION), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_files_are_zalandos_with_rewritten_gzip_headers():
    # checked on this machine: the Debian files' bytes differ from the published .gz files, but
    # putting back the original gzip header gives torchvision's md5 exactly
    for f, expected in data.known_md5s("fashion-mnist").items():
        path = Path(REAL_FASHION) / f
        plain, restored = data._file_md5(path, data._zalando_header(path))
        assert (restored == expected and plain != expected) or plain == expected


def test_debian_corrupt_file_says_reinstall(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    make_idx_root(tmp_path / "build", "FashionMNIST", gz=True, checksums=False)
    debian.mkdir()
    for f in (tmp_path / "build" / "FashionMNIST" / "raw").iterdir():
        f.rename(debian / f.name)
    register(debian)
    bad = debian / "train-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-3])
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    with pytest.raises(DatasetCorruptError, match=f"fashion-mnist: {bad} has md5 .*apt-get install --reinstall"):
        load("fashion-mnist")


@pytest.mark.parametrize("md5s", [{}, [], {"a/b": "0" * 32}, {"x": "0" * 31}, {"x": "G" * 32}, {"x": None}])
def test_register_checksums_rejects_bad_arguments(tmp_path, md5s):
    with pytest.raises(ValueError, match="^md5s="):
        data.register_checksums(tmp_path, md5s)


@pytest.mark.skipif(not os.path.isdir(REAL_FASHION), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", Path(REAL_FASHION))
    train, test = load("fashion-mnist"), load("fashion-mnist", train=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.num_classes == 10 and train.classes[0] == "T-shirt/top"
    assert torch.equal(torch.bincount(train.labels), torch.full((10,), 6000))
    for split in (train, test):
        assert split.mean[0] == pytest.approx(0.2860, abs=1e-4) and split.std[0] == pytest.approx(0.3530, abs=1e-4)


# ----------------------------------------------------------------------------- subsets
def test_balanced_subset():
    split = toy_split(n=40, classes=4)
    part = balanced_subset(split, 8, seed=1)
    assert torch.equal(torch.bincount(part.labels, minlength=4), torch.full((4,), 2))
    assert torch.equal(part.images, balanced_subset(split, 8, seed=1).images)
    assert not torch.equal(part.images, balanced_subset(split, 8, seed=2).images)
    assert part.description == "toy train, 8 of 40 (class-balanced, seed 1)"
    assert part.mean == split.mean and part.classes == split.classes
    assert len(balanced_subset(split, 40)) == 40  # every sample


def test_holdout():
    split = toy_split(n=40, classes=4)
    rest, val = holdout(split, 12, seed=5)
    assert len(rest) == 28 and len(val) == 12
    assert torch.equal(torch.bincount(val.labels, minlength=4), torch.full((4,), 3))
    # images are random and distinct, so comparing rows is comparing samples
    rows = lambda s: {tuple(r.tolist()) for r in s.images.flatten(1)}
    assert not rows(rest) & rows(val) and rows(rest) | rows(val) == rows(split)
    again = holdout(split, 12, seed=5)
    assert torch.equal(again[1].images, val.images) and torch.equal(again[0].images, rest.images)
    assert not torch.equal(holdout(split, 12, seed=6)[1].images, val.images)
    rest, val = holdout(split, 7, balanced=False)
    assert len(val) == 7 and not rows(rest) & rows(val)
    assert "held-out validation" in val.description


# ----------------------------------------------------------------------------- batches
def test_batches_are_a_pure_function_of_seed_and_step():
    split = toy_split()
    first = Batches(split, 8, seed=3, crop_pad=2)
    seen = [first.batch(it) for it in range(12)]
    fresh = Batches(split, 8, seed=3, crop_pad=2)  # a resumed run: new object, any step first
    for it in (9, 2, 11, 0):
        x, y = fresh.batch(it)
        assert torch.equal(x, seen[it][0]) and torch.equal(y, seen[it][1])
    assert not torch.equal(Batches(split, 8, seed=4, crop_pad=2).batch(0)[0], seen[0][0])
    for (x, y), (xs, ys) in zip(itertools.islice(iter(first), 12), seen):
        assert torch.equal(x, xs) and torch.equal(y, ys)
    epoch1 = list(first.epoch(1))
    assert len(epoch1) == 5 and torch.equal(epoch1[0][0], seen[5][0])


def test_each_epoch_is_a_permutation():
    split = toy_split(n=40)
    batches = Batches(split, 8, seed=0, flip=False)
    assert batches.steps_per_epoch == 5
    orders = []
    for epoch in range(3):
        idx = torch.cat([batches.indices(it) for it in range(epoch * 5, epoch * 5 + 5)])
        assert torch.equal(idx.sort().values, torch.arange(40))
        orders.append(idx)
    assert not torch.equal(orders[0], orders[1])
    for it in range(10):  # no augmentation: exactly the chosen images, normalized
        x, y = batches.batch(it)
        idx = batches.indices(it)
        assert torch.equal(unnormalize(x, split), split.images[idx]) and torch.equal(y, split.labels[idx])


def test_drop_last_false_and_partial_batch():
    split = toy_split(n=42)
    batches = Batches(split, 8, drop_last=False)
    assert batches.steps_per_epoch == 6
    sizes = [len(batches.batch(it)[1]) for it in range(6)]
    assert sizes == [8] * 5 + [2]
    idx = torch.cat([batches.indices(it) for it in range(6)])
    assert torch.equal(idx.sort().values, torch.arange(42))
    assert Batches(split, 8).steps_per_epoch == 5


def test_normalization_and_dtypes():
    split = toy_split()
    batches = Batches(split, 16, flip=False)
    x, y = batches.batch(1)
    images = split.images[batches.indices(1)].double() / 255
    mean, std = torch.tensor(split.mean).view(-1, 1, 1), torch.tensor(split.std).view(-1, 1, 1)
    torch.testing.assert_close(x.double(), (images - mean) / std, rtol=0, atol=1e-5)
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (16, 3, 6, 5)
    assert x.device == split.device
    torch.testing.assert_close(split.normalize(split.images[:4]), next(eval_batches(split, 4))[0])


def test_flip_mirrors_exactly():
    split = toy_split()
    batches = Batches(split, 20, seed=1, flip=True)
    flipped = kept = 0
    for it in range(4):
        x, _ = batches.batch(it)
        for got, original in zip(unnormalize(x, split), split.images[batches.indices(it)]):
            if torch.equal(got, original):
                kept += 1
            else:
                assert torch.equal(got, torch.flip(original, dims=[2]))
                flipped += 1
    assert flipped > 15 and kept > 15  # p = 0.5 over 80 draws


@pytest.mark.parametrize("flip", [False, True])
def test_crop_takes_windows_of_the_zero_padded_image(flip):
    split, pad = toy_split(h=6, w=5), 2
    batches = Batches(split, 20, seed=2, flip=flip, crop_pad=pad)
    offsets, flips = set(), 0
    for it in range(4):
        x, _ = batches.batch(it)
        for got, original in zip(unnormalize(x, split), split.images[batches.indices(it)]):
            padded = F.pad(original, (pad,) * 4)  # zeros, i.e. black, in raw pixel units
            matches = [(i, j, f) for i in range(2 * pad + 1) for j in range(2 * pad + 1)
                       for f in ((False, True) if flip else (False,))
                       if torch.equal(got, torch.flip(padded[:, i:i + 6, j:j + 5], dims=[2]) if f
                                      else padded[:, i:i + 6, j:j + 5])]
            assert len(matches) == 1, "batch image is not exactly one (flipped) window of the padded image"
            offsets.add(matches[0][:2])
            flips += matches[0][2]
    assert len(offsets) > 10  # offsets really vary
    assert (flips > 10) if flip else True


def test_channels_last():
    split = toy_split()
    x, _ = Batches(split, 8, channels_last=True).batch(0)
    assert x.is_contiguous(memory_format=torch.channels_last)
    x_plain, _ = Batches(split, 8).batch(0)
    assert torch.equal(x, x_plain)
    assert next(eval_batches(split, 8, channels_last=True))[0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_on_cuda_match_cpu():
    # the draws come from a CPU generator, so a run resumed on another device sees the same batches
    split = toy_split()
    on_cpu, on_gpu = Batches(split, 8, crop_pad=2), Batches(split.to("cuda"), 8, crop_pad=2)
    for it in (0, 7, 13):
        (xc, yc), (xg, yg) = on_cpu.batch(it), on_gpu.batch(it)
        assert xg.device.type == "cuda" and torch.equal(yg.cpu(), yc)
        torch.testing.assert_close(xg.cpu(), xc)


def test_eval_batches_cover_everything_in_order():
    split = toy_split(n=42)
    got = list(eval_batches(split, 8))
    assert [len(y) for _, y in got] == [8] * 5 + [2]
    assert torch.equal(torch.cat([y for _, y in got]), split.labels)
    assert torch.equal(unnormalize(torch.cat([x for x, _ in got]), split), split.images)


# ----------------------------------------------------------------------------- argument checks
@pytest.mark.parametrize("call,param", [
    (lambda s: load("foo"), "name"),
    (lambda s: load("mnist", train="yes"), "train"),
    (lambda s: load("mnist", device="nonsense"), "device"),
    (lambda s: load("mnist", download=1), "download"),
    (lambda s: balanced_subset(s, 7), "n"),
    (lambda s: balanced_subset(s, 0), "n"),
    (lambda s: balanced_subset(s, 44), "n"),
    (lambda s: balanced_subset(s, 8, seed=-1), "seed"),
    (lambda s: holdout(s, 0), "n_val"),
    (lambda s: holdout(s, 40, balanced=False), "n_val"),
    (lambda s: holdout(s, 6), "n_val"),
    (lambda s: holdout(s, 8, balanced="no"), "balanced"),
    (lambda s: Batches(s, 0), "batch_size"),
    (lambda s: Batches(s, 41), "batch_size"),
    (lambda s: Batches(s, 8, crop_pad=-1), "crop_pad"),
    (lambda s: Batches(s, 8, flip="x"), "flip"),
    (lambda s: Batches(s, 8, seed=1.5), "seed"),
    (lambda s: Batches(s, 8).batch(-1), "it"),
    (lambda s: Batches(s, 8).epoch(-1), "e"),
    (lambda s: eval_batches(s, 0), "batch_size"),
    (lambda s: s.to("nonsense"), "device"),
])
def test_bad_arguments(call, param):
    with pytest.raises(ValueError, match=f"^{param}="):
        call(toy_split(n=40, classes=4))


def test_unknown_name_lists_allowed():
    with pytest.raises(ValueError, match="allowed: cifar10, cifar100, mnist, fashion-mnist"):
        load("foo")


def test_load_computes_the_train_mean_image_for_both_splits(tmp_path):
    """Caffe's compute_image_mean over the training LMDB, per pixel on the 0-255 scale; the test
    split is normalized with the training split's mean image."""
    train_rows, _, test_rows, _, _ = make_cifar10_root(tmp_path)
    want = torch.from_numpy(train_rows.reshape(-1, 3, 32, 32).astype(np.float64).mean(0)).float()
    train, test = data.load("cifar10", True, root=tmp_path), data.load("cifar10", False, root=tmp_path)
    torch.testing.assert_close(train.mean_image, want)
    torch.testing.assert_close(test.mean_image, want)
    authors = dataclasses.replace(test, input_norm="mean_image")
    torch.testing.assert_close(authors.normalize(test.images), test.images.float() - want)
    with pytest.raises(ValueError, match="input_norm"):
        dataclasses.replace(test, input_norm="zca")
