"""The demo: the README's main job."""

import gzip
import io
import struct
import subprocess
import sys

import numpy as np
import pytest

from fastnn import demo
from fastnn.__main__ import main


def test_digits_demo_reaches_96_percent():
    pytest.importorskip("sklearn")
    out = io.StringIO()
    accuracy = demo.digits(verbose=0, file=out)
    assert accuracy >= 0.96
    text = out.getvalue()
    assert "test accuracy: %.2f%%" % (100 * accuracy) in text
    assert "training time:" in text and "samples/s" in text


def _write_idx(path, array, gz):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">%dI" % array.ndim,
                                                                     *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def write_mnist_files(folder):
    """A tiny MNIST in IDX files (200 training, 50 test images; training .gz)."""
    rng = np.random.default_rng(0)
    for prefix, n, gz in (("train", 200, True), ("t10k", 50, False)):
        labels = rng.integers(0, 10, n)
        images = np.zeros((n, 28, 28), np.uint8)
        images[np.arange(n), labels, :] = 255          # a learnable pattern: one bright row
        name = "%s-images-idx3-ubyte" % prefix + (".gz" if gz else "")
        _write_idx(folder / name, images, gz)
        name = "%s-labels-idx1-ubyte" % prefix + (".gz" if gz else "")
        _write_idx(folder / name, labels, gz)


def test_mnist_demo_runs_on_idx_files(tmp_path):
    write_mnist_files(tmp_path)
    out = io.StringIO()
    accuracy = demo.mnist(tmp_path, epochs=3, verbose=0, file=out)
    assert accuracy > 0.5
    assert "Dense(784, 30) + sigmoid" in out.getvalue()


def test_mnist_demo_names_the_missing_file(tmp_path, capsys):
    assert main(["demo", "--mnist", str(tmp_path), "--quiet"]) == 1
    assert "train-images-idx3-ubyte" in capsys.readouterr().err


def test_cli_rejects_bad_epochs(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--epochs", "0"])


def test_python_m_fastnn_demo_runs():
    pytest.importorskip("sklearn")
    done = subprocess.run([sys.executable, "-m", "fastnn", "demo", "--quiet", "--epochs", "5"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
