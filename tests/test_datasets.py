"""fastnn.datasets: the IDX reader, the MNIST loader and scikit-learn's digits.

The IDX and MNIST tests write small synthetic files into ``tmp_path`` (the
header is built here byte by byte, independently of the reader), so they need
no real data; every malformed-file error must name the file.  The digits tests
need scikit-learn and are skipped without it, except the one that checks the
ImportError raised when it is missing.
"""

import gzip
import re
import struct
import sys

import numpy as np
import pytest

from fastnn import datasets
from fastnn.datasets import load_digits, load_mnist, read_idx

#: IDX type byte -> the NumPy type of its elements.
TYPE_CODES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32,
              0x0D: np.float32, 0x0E: np.float64}
CODE_OF = {np.dtype(t): c for c, t in TYPE_CODES.items()}


def idx_bytes(arr, type_code=None):
    """The bytes of an IDX file holding ``arr``: magic, big-endian sizes, big-endian data."""
    arr = np.asarray(arr)
    code = CODE_OF[arr.dtype] if type_code is None else type_code
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(">%dI" % arr.ndim, *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path, arr, gz=False, **kwargs):
    data = idx_bytes(arr, **kwargs)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_bytes(path, data):
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("np_type", list(TYPE_CODES.values()),
                         ids=[np.dtype(t).name for t in TYPE_CODES.values()])
def test_read_idx_round_trip(tmp_path, rng, np_type, gz):
    shape = (4, 3, 5)
    if np.dtype(np_type).kind == "f":
        arr = rng.standard_normal(shape).astype(np_type)
    else:
        info = np.iinfo(np_type)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=np_type)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), arr, gz=gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(np_type)
    assert out.dtype.isnative
    assert out.shape == shape
    assert out.flags.writeable and out.flags.c_contiguous
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("shape", [(7,), (2, 3), (2, 28, 28), (1, 2, 1, 3)])
def test_read_idx_shapes(tmp_path, shape):
    arr = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    out = read_idx(write_idx(tmp_path / "a", arr))
    assert out.shape == shape
    np.testing.assert_array_equal(out, arr)


def test_read_idx_is_big_endian(tmp_path):
    # Two int16 elements stored as 01 02 and FF FE: 258 and -2 in big-endian.
    data = bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + bytes([1, 2, 0xFF, 0xFE])
    out = read_idx(write_bytes(tmp_path / "be", data))
    assert out.tolist() == [258, -2]


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "plain.gz", arr)), arr)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "packed", arr, gz=True)), arr)


def test_read_idx_accepts_str_and_pathlike(tmp_path):
    path = write_idx(tmp_path / "a", np.arange(3, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(str(path)), read_idx(path))


def test_read_idx_empty_dimension(tmp_path):
    out = read_idx(write_idx(tmp_path / "a", np.zeros((0, 28, 28), np.uint8)))
    assert out.shape == (0, 28, 28)


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))

#: case -> (file content, a regex the message must contain besides the file name).
MALFORMED = {
    "empty": (b"", "truncated"),
    "short magic": (b"\x00\x00\x08", "truncated"),
    "bad magic": (b"\x12\x34" + GOOD[2:], "magic"),
    "unknown type code": (GOOD[:2] + b"\x0a" + GOOD[3:], "type code 0x0A"),
    "zero dimensions": (b"\x00\x00\x08\x00", "0 dimensions"),
    "truncated header": (GOOD[:10], "truncated IDX header"),
    "truncated data": (GOOD[:-1], "truncated IDX data"),
    "huge header size": (b"\x00\x00\x08\x01\xff\xff\xff\xff" + GOOD[8:], "truncated IDX data"),
    "trailing garbage": (GOOD + b"\x00", "trailing garbage"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_read_idx_malformed(tmp_path, case, gz):
    data, what = MALFORMED[case]
    name = "broken-%s.idx%s" % (case.replace(" ", "-"), ".gz" if gz else "")
    path = write_bytes(tmp_path / name, gzip.compress(data) if gz else data)
    with pytest.raises(ValueError, match=re.escape(name)) as excinfo:
        read_idx(path)
    assert re.search(what, str(excinfo.value))


def _corrupt_gzips():
    packed = gzip.compress(GOOD * 50)
    flipped = bytearray(packed)
    flipped[len(flipped) // 2] ^= 0xFF               # damaged deflate data
    bad_crc = bytearray(packed)
    bad_crc[-8] ^= 0xFF                               # CRC32 trailer
    return {
        "truncated": packed[:len(packed) // 2],
        "flipped": bytes(flipped),
        "bad-crc": bytes(bad_crc),
        "header-only": packed[:10],
        "garbage-after-member": packed + b"not gzip",
    }


@pytest.mark.parametrize("case", list(_corrupt_gzips()))
def test_read_idx_corrupt_gzip(tmp_path, case):
    name = "t10k-images-idx3-ubyte-%s.gz" % case
    path = write_bytes(tmp_path / name, _corrupt_gzips()[case])
    with pytest.raises(ValueError, match=re.escape(name)):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        read_idx(tmp_path / "no-such-file")


# ---------------------------------------------------------------------------
# load_mnist
# ---------------------------------------------------------------------------

N_TRAIN, N_TEST = 6, 4


def fake_mnist(directory, rng, n_train=N_TRAIN, n_test=N_TEST, gz=False,
               names=("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
    """Write a tiny MNIST into ``directory``; return (train images, train labels, test ...)."""
    arrays = (
        rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=n_train, dtype=np.uint8),
        rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=n_test, dtype=np.uint8),
    )
    arrays[0][0, 0, 0], arrays[0][0, 0, 1] = 0, 255   # both ends of the pixel range
    for name, arr in zip(names, arrays):
        write_idx(directory / (name + (".gz" if gz else "")), arr, gz=gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_load_mnist(tmp_path, rng, dtype, gz):
    images, labels, t_images, t_labels = fake_mnist(tmp_path, rng, gz=gz)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path, dtype=dtype)
    for X, y, imgs, labs in ((X_train, y_train, images, labels),
                             (X_test, y_test, t_images, t_labels)):
        assert X.shape == (len(imgs), 784)
        assert X.dtype == np.dtype(dtype)
        assert X.flags.c_contiguous
        assert y.dtype == np.int64 and y.shape == (len(imgs),)
        np.testing.assert_array_equal(y, labs)
        np.testing.assert_allclose(X, imgs.reshape(len(imgs), -1) / 255.0,
                                   rtol=1e-7 if dtype == np.float32 else 1e-15)
    assert X_train.min() == 0.0 and X_train.max() == 1.0


def test_load_mnist_dtype_string_and_str_path(tmp_path, rng):
    fake_mnist(tmp_path, rng)
    X_train, _, X_test, _ = load_mnist(str(tmp_path), dtype="float64")
    assert X_train.dtype == X_test.dtype == np.float64


def test_load_mnist_dotted_names_and_mixed_compression(tmp_path, rng):
    names = ("train-images.idx3-ubyte", "train-labels.idx1-ubyte",
             "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte")
    images, labels, t_images, t_labels = fake_mnist(tmp_path, rng, names=names)
    (tmp_path / names[2]).unlink()                 # the test images only as .gz
    write_idx(tmp_path / (names[2] + ".gz"), t_images, gz=True)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path)
    np.testing.assert_array_equal(np.rint(X_test * 255).astype(np.uint8).reshape(-1, 28, 28),
                                  t_images)
    np.testing.assert_array_equal(y_train, labels)


def test_load_mnist_prefers_raw_over_gz(tmp_path, rng):
    fake_mnist(tmp_path, rng, n_test=4)
    # A different, gzipped test set next to the raw one: the raw file wins.
    fake_mnist(tmp_path, rng, n_train=2, n_test=3, gz=True)
    X_train, _, X_test, _ = load_mnist(tmp_path)
    assert len(X_train) == N_TRAIN and len(X_test) == 4


def test_load_mnist_wrong_dtype(tmp_path, rng):
    fake_mnist(tmp_path, rng)
    for bad in (np.uint8, "int64", np.float16, "nonsense", None):
        with pytest.raises(TypeError, match="dtype"):
            load_mnist(tmp_path, dtype=bad)


def test_load_mnist_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_mnist(tmp_path / "nowhere")


def test_load_mnist_empty_directory_lists_all_names(tmp_path):
    with pytest.raises(FileNotFoundError) as excinfo:
        load_mnist(tmp_path)
    message = str(excinfo.value)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                 "train-images-idx3-ubyte.gz", "train-images.idx3-ubyte",
                 "t10k-labels.idx1-ubyte.gz"):
        assert name in message
    assert str(tmp_path) in message


@pytest.mark.parametrize("missing", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_load_mnist_missing_one_file(tmp_path, rng, missing):
    fake_mnist(tmp_path, rng)
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(missing + ".gz")) as excinfo:
        load_mnist(tmp_path)
    others = set(datasets.MNIST_FILES) - {k for k, v in datasets.MNIST_FILES.items()
                                          if v[0] == missing}
    for key in others:  # only the missing file is reported
        assert "%s:" % datasets.MNIST_FILES[key][0] not in str(excinfo.value)


def test_load_mnist_test_files_only_is_an_error(tmp_path, rng):
    fake_mnist(tmp_path, rng, gz=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / name).unlink()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte") as excinfo:
        load_mnist(tmp_path)
    assert "training files" in str(excinfo.value)


def test_load_mnist_count_mismatch(tmp_path, rng):
    fake_mnist(tmp_path, rng)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(N_TRAIN + 1, np.uint8))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte") as excinfo:
        load_mnist(tmp_path)
    assert "train-images-idx3-ubyte" in str(excinfo.value)
    assert "%d labels" % (N_TRAIN + 1) in str(excinfo.value)


@pytest.mark.parametrize("bad_label", [10, 255])
def test_load_mnist_labels_out_of_range(tmp_path, rng, bad_label):
    fake_mnist(tmp_path, rng)
    labels = np.zeros(N_TEST, np.uint8)
    labels[2] = bad_label
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte") as excinfo:
        load_mnist(tmp_path)
    assert "0-9" in str(excinfo.value) and "index 2" in str(excinfo.value)


def test_load_mnist_negative_labels(tmp_path, rng):
    fake_mnist(tmp_path, rng)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(N_TEST, -1, np.int32))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.*0-9"):
        load_mnist(tmp_path)


def test_load_mnist_int32_labels_accepted(tmp_path, rng):
    _, _, _, t_labels = fake_mnist(tmp_path, rng)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", t_labels.astype(np.int32))
    np.testing.assert_array_equal(load_mnist(tmp_path)[3], t_labels)


@pytest.mark.parametrize("shape", [(N_TRAIN, 28, 27), (N_TRAIN, 784), (N_TRAIN, 1, 28, 28)])
def test_load_mnist_images_not_28x28(tmp_path, rng, shape):
    fake_mnist(tmp_path, rng)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*28, 28"):
        load_mnist(tmp_path)


def test_load_mnist_images_not_bytes(tmp_path, rng):
    fake_mnist(tmp_path, rng)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((N_TRAIN, 28, 28), np.float32))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*unsigned bytes"):
        load_mnist(tmp_path)


def test_load_mnist_labels_not_1d(tmp_path, rng):
    fake_mnist(tmp_path, rng)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((N_TRAIN, 1), np.uint8))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*1-D"):
        load_mnist(tmp_path)


def test_load_mnist_corrupt_file_is_named(tmp_path, rng):
    fake_mnist(tmp_path, rng, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=re.escape("t10k-images-idx3-ubyte.gz")):
        load_mnist(tmp_path)


# ---------------------------------------------------------------------------
# load_digits
# ---------------------------------------------------------------------------

@pytest.fixture
def sklearn_digits():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits as sk_load_digits
    return sk_load_digits()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32", "float64"],
                         ids=["np.float32", "np.float64", "str-float32", "str-float64"])
def test_load_digits(sklearn_digits, dtype):
    X_train, y_train, X_test, y_test = load_digits(dtype=dtype)
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    for X, y in ((X_train, y_train), (X_test, y_test)):
        assert X.dtype == np.dtype(dtype)
        assert X.flags.c_contiguous
        assert y.dtype == np.int64
        assert 0.0 <= X.min() and X.max() <= 1.0
        assert set(np.unique(y)) == set(range(10))
    assert X_train.min() == 0.0 and X_train.max() == 1.0


def test_load_digits_is_a_partition_of_sklearn_data(sklearn_digits):
    X_train, y_train, X_test, y_test = load_digits(dtype=np.float64)
    rows = np.column_stack([np.concatenate([X_train, X_test]) * 16,
                            np.concatenate([y_train, y_test])])
    expected = np.column_stack([sklearn_digits.data, sklearn_digits.target])
    np.testing.assert_array_equal(rows[np.lexsort(rows.T)], expected[np.lexsort(expected.T)])


def test_load_digits_deterministic_by_seed(sklearn_digits):
    first = load_digits(seed=3)
    again = load_digits(seed=3)
    other = load_digits(seed=4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_load_digits_is_stratified(sklearn_digits):
    counts = np.bincount(sklearn_digits.target)
    for test_size in (0.25, 0.1, 0.5):
        _, y_train, _, y_test = load_digits(test_size=test_size)
        n_test = int(np.ceil(test_size * 1797))
        assert len(y_test) == n_test and len(y_train) == 1797 - n_test
        per_class = np.bincount(y_test, minlength=10)
        assert np.all(np.abs(per_class - counts * n_test / 1797) < 1)
        np.testing.assert_array_equal(per_class + np.bincount(y_train, minlength=10), counts)


def test_load_digits_shuffled(sklearn_digits):
    _, y_train, _, y_test = load_digits()
    assert np.any(np.diff(y_train) < 0) and np.any(np.diff(y_test) < 0)


@pytest.mark.parametrize("test_size", [0, 1, -0.1, 1.5, float("nan")])
def test_load_digits_bad_test_size(test_size):
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=test_size)


def test_load_digits_test_size_leaving_no_training_set(sklearn_digits):
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=0.9999)


@pytest.mark.parametrize("dtype", ["int64", np.float16, "nonsense", None])
def test_load_digits_bad_dtype(dtype):
    with pytest.raises(TypeError, match="dtype"):
        load_digits(dtype=dtype)


def test_load_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=re.escape('pip install "fastnn[demo]"')):
        load_digits()
