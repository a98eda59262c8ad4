"""Small data sets for demos and tests: scikit-learn's 8×8 digits and MNIST.

Both loaders return ``(X_train, y_train, X_test, y_test)``: ``X`` a
C-contiguous float32 or float64 array with one sample per row and pixels
scaled to [0, 1], ``y`` int64 class labels 0–9, ready for a network with
inputs ``X.shape[1]`` and ten outputs.

* :func:`load_digits` needs scikit-learn (an optional dependency,
  ``pip install "fastnn[demo]"``), which ships the 1,797 digits inside its
  package: nothing is downloaded.
* :func:`load_mnist` reads the classic MNIST IDX files from a directory you
  provide; nothing is downloaded either.  :func:`read_idx` is the general IDX
  reader it uses.

Errors follow fastnn's conventions (see ``fastnn/_validation.py``): a wrong
dtype argument is a ``TypeError``, a bad value or a malformed file a
``ValueError``, a missing file a ``FileNotFoundError``; every message about a
file names the file.
"""

import gzip
import math
import os
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

from fastnn._typing import FloatArray
from fastnn._validation import FLOAT_DTYPES, check_scalar

__all__ = ["load_digits", "load_mnist", "read_idx"]

#: IDX type byte -> element type (big-endian, as stored in the file).
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The four MNIST files: key -> (canonical name, variant with a dot).
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_DEMO_EXTRA = 'pip install "fastnn[demo]"'


#: What the loaders return: X_train, y_train, X_test, y_test (labels int64).
Split = tuple[FloatArray, npt.NDArray[np.int64], FloatArray, npt.NDArray[np.int64]]


def _float_dtype(dtype: npt.DTypeLike) -> np.dtype[np.floating[Any]]:
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    # (Not "dt in FLOAT_DTYPES": np.dtype(...) == None compares as float64.)
    if dtype is None or dt is None or not any(dt == f for f in FLOAT_DTYPES):
        raise TypeError("dtype must be float32 or float64, got %r" % (dtype,))
    return dt


# ---------------------------------------------------------------------------
# scikit-learn's 8×8 digits
# ---------------------------------------------------------------------------

def load_digits(dtype: npt.DTypeLike = "float32", test_size: float = 0.25,
                seed: int | None = 0) -> Split:
    """Load scikit-learn's 8×8 handwritten digits, split into training and test sets.

    The 1,797 images (about 180 per digit, 8×8 pixels of 0–16) ship inside the
    scikit-learn package; nothing is downloaded.

    Parameters
    ----------
    dtype : str or numpy.dtype, default "float32"
        ``float32`` or ``float64``: the dtype of ``X_train`` and ``X_test``.
    test_size : float, default 0.25
        Fraction of the samples in the test set, in (0, 1).  The test set
        holds ``ceil(test_size * 1797)`` samples (scikit-learn's
        ``train_test_split`` rule): 450 for the default.
    seed : int or None, default 0
        Seed of the split (``numpy.random.default_rng(seed)``).  The same seed
        gives the same split, and the same order of samples, every time;
        ``None`` gives a fresh random split.

    Returns
    -------
    X_train : ndarray of shape (n_train, 64)
        Pixels divided by 16, so in [0, 1]; C-contiguous, of ``dtype``.
    y_train : ndarray of shape (n_train,), int64
        Digit labels 0–9.
    X_test : ndarray of shape (n_test, 64)
    y_test : ndarray of shape (n_test,), int64

    Raises
    ------
    ImportError
        scikit-learn is not installed (``pip install "fastnn[demo]"``).

    Notes
    -----
    The split is **stratified**: each digit contributes to the test set in
    proportion to its share of the data.  Per-class test counts are
    ``n_test * n_class / n`` rounded down, and the samples still missing go to
    the classes with the largest remainders (ties to the smaller digit), so the
    total is exactly ``n_test``.  Within each class the test samples are drawn
    at random; both sets are then shuffled, so classes are interleaved.  The
    split uses NumPy only (not scikit-learn's ``train_test_split``), so it does
    not change with the scikit-learn version.

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_digits()       # doctest: +SKIP
    >>> X_train.shape, X_test.shape                            # doctest: +SKIP
    ((1347, 64), (450, 64))
    """
    dt = _float_dtype(dtype)
    test_size = check_scalar(test_size, "test_size", low=0, high=1,
                             low_open=True, high_open=True)
    try:
        from sklearn.datasets import load_digits as _sklearn_load_digits
    except ImportError as exc:
        raise ImportError(
            "fastnn.datasets.load_digits needs scikit-learn, an optional dependency "
            "of fastnn; install it with: %s (or pip install scikit-learn)"
            % _DEMO_EXTRA) from exc

    bunch = _sklearn_load_digits()
    data = np.asarray(bunch.data)
    target = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = _stratified_split(target, test_size, seed)
    # Pixels are integers 0..16 and 16 is a power of two: the scaling is exact
    # in both dtypes.  astype returns a fresh C-contiguous array.
    X_train = (data[train_idx] / 16.0).astype(dt)
    X_test = (data[test_idx] / 16.0).astype(dt)
    return X_train, target[train_idx], X_test, target[test_idx]


def _stratified_split(y, test_size, seed):
    """Return (train indices, test indices) of a seeded stratified split of labels ``y``."""
    n = len(y)
    n_test = math.ceil(test_size * n)
    if n_test >= n:
        raise ValueError("test_size=%r leaves no training samples out of %d"
                         % (test_size, n))
    classes, y_idx = np.unique(y, return_inverse=True)
    counts = np.bincount(y_idx, minlength=len(classes))
    # Largest-remainder allocation of n_test over the classes, in integers.
    per_class = counts * n_test // n
    remainders = counts * n_test % n
    missing = n_test - int(per_class.sum())
    per_class[np.argsort(-remainders, kind="stable")[:missing]] += 1

    rng = np.random.default_rng(seed)
    train, test = [], []
    for c, k in enumerate(per_class):
        members = rng.permutation(np.flatnonzero(y_idx == c))
        test.append(members[:k])
        train.append(members[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


# ---------------------------------------------------------------------------
# IDX files and MNIST
# ---------------------------------------------------------------------------

def read_idx(path: str | os.PathLike[str]) -> npt.NDArray[Any]:
    """Read an IDX file (the format of the MNIST files) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file, raw or gzip-compressed.  Compression is recognised from the
        content (the gzip magic bytes ``1f 8b``), not from the name.

    Returns
    -------
    numpy.ndarray
        A new, writeable array of the shape stored in the header and of the
        element type given by the type byte, in native byte order: uint8
        (0x08), int8 (0x09), int16 (0x0B), int32 (0x0C), float32 (0x0D) or
        float64 (0x0E).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is malformed: corrupt gzip stream, bad magic (the first two
        bytes must be zero), unknown type code, no dimensions, header or data
        shorter than the header says (truncated), or bytes after the data
        (trailing garbage).  The message names the file.

    Notes
    -----
    The format: two zero bytes, a type byte, a byte giving the number of
    dimensions ``d``, then ``d`` big-endian uint32 sizes, then the elements in
    C order, big-endian.  The file is read whole and the elements are parsed
    with one ``numpy.frombuffer`` over a big-endian dtype.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError("%s: corrupt gzip stream (%s: %s)"
                             % (path, type(exc).__name__, exc)) from None

    if len(data) < 4:
        raise ValueError("%s: truncated IDX file: %d bytes, shorter than the 4-byte "
                         "magic number" % (path, len(data)))
    if data[:2] != b"\x00\x00":
        raise ValueError("%s: not an IDX file: bad magic number 0x%s (an IDX file "
                         "starts with two zero bytes, e.g. 0x00000803)"
                         % (path, data[:4].hex()))
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_TYPES:
        raise ValueError("%s: unknown IDX type code 0x%02X; expected one of %s"
                         % (path, type_code,
                            ", ".join("0x%02X (%s)" % (c, t.newbyteorder("=").name)
                                      for c, t in IDX_TYPES.items())))
    if ndim == 0:
        raise ValueError("%s: IDX header gives 0 dimensions; expected at least 1" % path)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError("%s: truncated IDX header: %d dimensions need %d header bytes, "
                         "the file has %d bytes" % (path, ndim, header, len(data)))
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    stored = IDX_TYPES[type_code]
    count = math.prod(shape)  # Python ints: no overflow, whatever the header says
    expected = count * stored.itemsize
    got = len(data) - header
    if got < expected:
        raise ValueError("%s: truncated IDX data: the header gives shape %s of %s, "
                         "%d bytes, but only %d bytes follow it"
                         % (path, shape, stored.newbyteorder("=").name, expected, got))
    if got > expected:
        raise ValueError("%s: trailing garbage: %d bytes after the %d bytes of data "
                         "the header announces (shape %s of %s)"
                         % (path, got - expected, expected, shape,
                            stored.newbyteorder("=").name))
    arr = np.frombuffer(data, dtype=stored, count=count, offset=header).reshape(shape)
    # astype copies: the result is writeable and in native byte order.
    return arr.astype(stored.newbyteorder("="))


def _find_file(directory, names):
    """Return the first existing file among ``names`` (raw before ``.gz``), or None."""
    for name in names:
        for candidate in (name, name + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return path
    return None


def _candidates(names):
    return [c for name in names for c in (name, name + ".gz")]


def load_mnist(directory: str | os.PathLike[str], dtype: npt.DTypeLike = "float32") -> Split:
    """Load MNIST from the four original IDX files in ``directory``.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or
        gzipped (``.gz``), and under either spelling (``train-images.idx3-ubyte``
        is accepted too).  When several exist, the canonical spelling wins over
        the dotted one and the raw file over the ``.gz``.  Nothing is downloaded.
    dtype : str or numpy.dtype, default "float32"
        ``float32`` or ``float64``: the dtype of ``X_train`` and ``X_test``.

    Returns
    -------
    X_train : ndarray of shape (n_train, 784)
        Pixels divided by 255, so in [0, 1]; C-contiguous, of ``dtype``.
        60,000 rows for the real data set.
    y_train : ndarray of shape (n_train,), int64
        Digit labels 0–9.
    X_test : ndarray of shape (n_test, 784)
        10,000 rows for the real data set.
    y_test : ndarray of shape (n_test,), int64

    Raises
    ------
    FileNotFoundError
        ``directory`` does not exist, or some of the four files are missing;
        the message lists the names looked for.  In particular, the training
        files are required even when the test files are present: the loader
        never silently returns the test set alone.
    ValueError
        A file is not a valid IDX file (see :func:`read_idx`), the images are
        not unsigned bytes of shape (n, 28, 28), the labels are not a 1-D
        integer array with values 0–9, or images and labels have different
        counts.  The message names the file.
    TypeError
        ``dtype`` is not float32 or float64.
    """
    dt = _float_dtype(dtype)
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError("MNIST directory %r does not exist or is not a directory"
                                % directory)
    paths = {key: _find_file(directory, names) for key, names in MNIST_FILES.items()}
    missing = [key for key, p in paths.items() if p is None]
    if missing:
        lines = ["  %s: looked for %s" % (MNIST_FILES[key][0],
                                          ", ".join(_candidates(MNIST_FILES[key])))
                 for key in missing]
        message = "MNIST files missing in %s:\n%s" % (directory, "\n".join(lines))
        if paths["test_images"] and paths["test_labels"] and \
                ("train_images" in missing or "train_labels" in missing):
            message += ("\nThe test files (t10k-*) are there but the training files are "
                        "not: load_mnist needs both sets and does not fall back to the "
                        "test set alone.")
        raise FileNotFoundError(message)

    X_train, y_train = _load_pair(paths["train_images"], paths["train_labels"], dt)
    X_test, y_test = _load_pair(paths["test_images"], paths["test_labels"], dt)
    return X_train, y_train, X_test, y_test


def _load_pair(images_path, labels_path, dt):
    """Read and check one (images, labels) pair; return (X scaled to [0, 1], y int64)."""
    images = read_idx(images_path)
    if images.dtype != np.uint8:
        raise ValueError("%s: MNIST images must be unsigned bytes (IDX type 0x08), "
                         "got %s" % (images_path, images.dtype))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError("%s: MNIST images must have shape (n, 28, 28), got %s"
                         % (images_path, images.shape))
    labels = read_idx(labels_path)
    if labels.ndim != 1:
        raise ValueError("%s: MNIST labels must be a 1-D array, got shape %s"
                         % (labels_path, labels.shape))
    if labels.dtype.kind not in "iu":
        raise ValueError("%s: MNIST labels must be integers, got %s"
                         % (labels_path, labels.dtype))
    if len(labels) != len(images):
        raise ValueError("%s has %d labels but %s has %d images; they must match"
                         % (labels_path, len(labels), images_path, len(images)))
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        raise ValueError("%s: labels must be digits 0-9, but %d are not (first: "
                         "label %d at index %d)"
                         % (labels_path, bad.size, labels[bad[0]], bad[0]))
    X = np.divide(images.reshape(len(images), 28 * 28), 255, dtype=dt)
    return X, labels.astype(np.int64)
