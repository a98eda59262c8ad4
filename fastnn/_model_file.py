"""Reading a model file without trusting it: bounds before any allocation or loop.

A fastnn model file (``Sequential.save``) is an uncompressed ``.npz``: a zip
of ``.npy`` arrays (``params``, BatchNorm's ``norm_running``, the optimizer's
``optimizer.*`` arrays) and a JSON header (``config``).  ``fastnn.load`` may be given a truncated, corrupt
or hostile file, so before anything is allocated or looped over:

- every member must be a stored (uncompressed, unencrypted) ``.npy`` whose header declares
  no more bytes than the member holds, a plain numeric or string dtype, and
  no more than :data:`MAX_BYTES` in all (so no array larger than the file
  on disk is ever allocated, and no decompression bomb is opened);
- the declared architecture must have at most :data:`MAX_LAYERS` layers,
  each Dense size a positive integer, and its parameter count (computed in
  Python integers) must equal the ``params`` array actually present.

Every violation is a ``ValueError`` saying what was wrong; ``load`` adds the
path.
"""

import math
import os
import zipfile

import numpy as np

from fastnn.layers import LAYER_TYPES

#: Layers a model file may declare (a network is a few to a few hundred).
MAX_LAYERS = 10_000
#: Units a Dense layer may declare (above any real layer; products stay in int64).
MAX_UNITS = 2 ** 31 - 1
#: Bytes of arrays a model file may hold.
MAX_BYTES = 2 ** 40


def _member_header(zf, info):
    """(shape, dtype) of a .npy member, read from its header only."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError("%s: .npy format version %s" % (info.filename, version))
    return shape, dtype


def check_members(path):
    """Check the zip's members against their declared shapes and the file size.

    Parameters
    ----------
    path : str

    Raises
    ------
    ValueError
        A member that is not a stored .npy, declares more bytes than it holds,
        holds objects, or a file whose arrays exceed :data:`MAX_BYTES`.
    """
    on_disk = os.path.getsize(path)
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError("member %r is not a .npy array" % info.filename)
            if info.flag_bits & 0x1:
                raise ValueError("member %r is encrypted" % info.filename)
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError("member %r is compressed; fastnn writes stored arrays"
                                 % info.filename)
            if info.file_size > on_disk:
                raise ValueError("member %r declares %d bytes, more than the file's %d"
                                 % (info.filename, info.file_size, on_disk))
            shape, dtype = _member_header(zf, info)
            if dtype.hasobject:
                raise ValueError("member %r holds Python objects" % info.filename)
            need = math.prod(shape) * dtype.itemsize
            if need > info.file_size:
                raise ValueError("member %r declares shape %s of %s (%d bytes) but holds %d"
                                 % (info.filename, shape, dtype, need, info.file_size))
            total += need
    if total > MAX_BYTES:
        raise ValueError("the arrays total %d bytes, above the limit of %d" % (total, MAX_BYTES))


def _size(config, key, index):
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_UNITS:
        raise ValueError("layer %d: %s must be an integer in [1, %d], got %r"
                         % (index, key, MAX_UNITS, value))
    return value


def check_architecture(layers, n_params):
    """Check declared layers against the limits and the parameters present.

    Parameters
    ----------
    layers : list
        The ``layers`` entry of the saved config (layer configs).
    n_params : int
        Size of the ``params`` array in the file.

    Raises
    ------
    ValueError
        Too many layers, a bad Dense size, or a parameter count that is not
        ``n_params``.
    """
    if not isinstance(layers, list) or not layers:
        raise ValueError("layers must be a non-empty list")
    if len(layers) > MAX_LAYERS:
        raise ValueError("%d layers declared, above the limit of %d"
                         % (len(layers), MAX_LAYERS))
    declared, previous = 0, None
    for i, config in enumerate(layers):
        if not isinstance(config, dict):
            raise ValueError("layer %d: a layer config must be a dict, got %r" % (i, config))
        if config.get("type") not in LAYER_TYPES:
            raise ValueError("layer %d: unknown layer type %r" % (i, config.get("type")))
        if config["type"] == "Dense":
            n_in, n_out = _size(config, "n_in", i), _size(config, "n_out", i)
            if previous is not None and n_in != previous:
                raise ValueError("layer %d: Dense(%d, %d) does not follow a layer of %d outputs"
                                 % (i, n_in, n_out, previous))
            previous = n_out
            declared += n_in * n_out + n_out
        elif config["type"] in ("BatchNorm", "LayerNorm") and previous is not None:
            declared += 2 * previous          # γ and β of the units before it
            if declared > n_params:
                break
    if declared != n_params:
        raise ValueError("the layers declare %s parameters but params holds %d"
                         % ("more than %d" % n_params if declared > n_params else declared,
                            n_params))


def check_classes(classes, n_outputs):
    """A model file's class labels (a JSON list, or None) as the array of
    ``Sequential.classes_``: sorted, distinct strings or numbers, no more than
    the outputs tell apart.

    Raises
    ------
    ValueError
    """
    if classes is None:
        return None
    if not isinstance(classes, list) or not 2 <= len(classes) <= max(n_outputs, 2):
        raise ValueError("classes must be a list of 2 to %d labels" % max(n_outputs, 2))
    kinds = {type(c) for c in classes}
    if not (kinds == {str} or kinds <= {int, float}):
        raise ValueError("classes must be all strings or all numbers")
    out = np.asarray(classes)
    if len(np.unique(out)) != len(out) or not np.array_equal(np.sort(out), out):
        raise ValueError("classes must be sorted and distinct")
    return out
