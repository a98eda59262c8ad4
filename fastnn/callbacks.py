"""``fit`` callbacks as Keras users know them: early stopping, checkpoints,
learning-rate schedules by function, a CSV log, a stop at a NaN loss.

Each is a :class:`fastnn.Callback` (``fastnn.model``): ``fit`` calls
``on_train_begin(model)``, then per epoch ``on_epoch_begin(epoch)`` and
``on_epoch_end(epoch, logs)`` (a true result stops training after that
epoch), then ``on_train_end(model, history)``.  ``logs`` holds the epoch's
``loss`` (``accuracy`` for classifiers), ``val_loss``/``val_accuracy`` with
validation data, ``lr`` and ``time``.  They run in Python between epochs;
the epochs themselves stay compiled (``TerminateOnNaN`` asks the compiled
loop for a check of every batch).
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from fastnn._validation import check_scalar
from fastnn.model import Callback, History

__all__ = ["EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "CSVLogger",
           "TerminateOnNaN"]


def _check_mode(mode: str, monitor: str) -> str:
    """'min' or 'max' for ``monitor``: 'auto' is 'max' for accuracies."""
    if mode not in ("auto", "min", "max"):
        raise ValueError("mode must be 'auto', 'min' or 'max', got %r" % (mode,))
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


def _monitored(logs: dict[str, float], monitor: str, who: str) -> float:
    if monitor not in logs:
        raise KeyError("%s monitors %r, which this fit does not log (it logs %s)"
                       % (who, monitor, ", ".join(sorted(logs))))
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop training when a monitored figure has stopped improving.

    Parameters
    ----------
    monitor : str, default 'val_loss'
        A key of the epoch's logs ('loss', 'val_loss', 'accuracy',
        'val_accuracy').  A ``KeyError`` names the keys logged when it is
        absent (e.g. 'val_loss' without validation data).
    min_delta : float, default 0
        An improvement is a change by more than this (>= 0).
    patience : int, default 0
        Epochs without improvement before stopping (>= 0; 0 stops at the
        first epoch that does not improve).
    mode : {'auto', 'min', 'max'}
        'auto': 'max' for accuracies, else 'min'.
    restore_best_weights : bool, default False
        End with the weights of the best epoch (the last one's otherwise).
    start_from_epoch : int, default 0
        Epochs to train before watching (>= 0).

    Attributes
    ----------
    best : float
    best_epoch : int or None
    stopped_epoch : int or None
        The epoch after which it stopped training.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        self.monitor = str(monitor)
        self.min_delta = check_scalar(min_delta, "min_delta", low=0)
        self.patience = check_scalar(patience, "patience", low=0, integer=True)
        self.mode = _check_mode(mode, self.monitor)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = check_scalar(start_from_epoch, "start_from_epoch", low=0,
                                             integer=True)

    def on_train_begin(self, model: Any) -> None:
        self.model = model
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_params: np.ndarray | None = None
        self.stopped_epoch: int | None = None
        self.waited = 0

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if epoch < self.start_from_epoch:
            return False
        if self._improved(value):
            self.best, self.best_epoch, self.waited = value, epoch, 0
            if self.restore_best_weights:
                self.best_params = self.model.params.copy()
            return False
        self.waited += 1
        if self.waited > self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, model: Any, history: History) -> None:
        if self.restore_best_weights and self.best_params is not None:
            model.params[...] = self.best_params


class ModelCheckpoint(Callback):
    """Save the model (``Sequential.save``: atomic, weights, optimizer state
    and generator) after epochs.

    Parameters
    ----------
    path : str or os.PathLike
        May hold ``{epoch}`` (counting from 1) and any logged key, formatted
        with ``str.format``: ``"model-{epoch:03d}-{val_loss:.3f}.npz"``.
    monitor : str, default 'val_loss'
        With ``save_best_only``: the figure that decides.
    save_best_only : bool, default False
        Save only when ``monitor`` improved on the best so far.
    mode : {'auto', 'min', 'max'}
    every : int, default 1
        Consider saving every this many epochs.
    comm : mpi4py.MPI.Intracomm, optional
        Data-parallel training: rank 0 writes, every rank waits for the
        file (``fastnn.distributed.save``).

    Attributes
    ----------
    best : float
    saved : list of str
        The files written, in order.
    """

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto", every: int = 1,
                 comm: Any = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("path must be a str or os.PathLike, got %r" % (path,))
        self.path = os.fspath(path)
        self.monitor = str(monitor)
        self.save_best_only = bool(save_best_only)
        self.mode = _check_mode(mode, self.monitor)
        self.every = check_scalar(every, "every", low=1, integer=True)
        self.comm = comm

    def on_train_begin(self, model: Any) -> None:
        self.model = model
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if (epoch + 1) % self.every:
            return False
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return False
            self.best = value
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("ModelCheckpoint path %r cannot be formatted with epoch and "
                             "the logs (%s): %s" % (self.path, ", ".join(sorted(logs)), exc)
                             ) from None
        if self.comm is None:
            self.model.save(path)
        else:
            from fastnn import distributed
            distributed.save(self.model, path, self.comm)
        self.saved.append(path)
        return False


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate before each epoch from a function.

    Parameters
    ----------
    schedule : callable ``f(epoch, lr) -> lr``
        ``epoch`` counts from 0; ``lr`` is the rate the optimizer would use
        (its own schedule's).  The result must be a finite number > 0.

    Notes
    -----
    The rate is written to ``model.optimizer.lr`` for the epoch; the epoch's
    logs record it as ``lr``.
    """

    def __init__(self, schedule: Callable[[int, float], float]) -> None:
        if not callable(schedule):
            raise TypeError("schedule must be a function f(epoch, lr) -> lr, got %r"
                            % (schedule,))
        self.schedule = schedule

    def on_train_begin(self, model: Any) -> None:
        self.model = model

    def on_epoch_begin(self, epoch: int) -> None:
        optimizer = self.model.optimizer
        lr = self.schedule(epoch, optimizer.lr)
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            lr = math.nan
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError("LearningRateScheduler: the schedule gave %r for epoch %d; "
                             "expected a finite number > 0" % (lr, epoch))
        optimizer.lr = lr


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (``epoch`` first).

    Parameters
    ----------
    path : str or os.PathLike
    separator : str, default ','
    append : bool, default False
        Add to an existing file (without a second header) instead of
        replacing it.

    Notes
    -----
    The file is flushed after every row, so it can be followed while
    training runs; it is closed when training ends.
    """

    def __init__(self, path: str | os.PathLike[str], separator: str = ",",
                 append: bool = False) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("path must be a str or os.PathLike, got %r" % (path,))
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError("separator must be one character, got %r" % (separator,))
        self.path, self.separator, self.append = os.fspath(path), separator, bool(append)
        self._file: Any = None

    def on_train_begin(self, model: Any) -> None:
        has_rows = self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        self._file = open(self.path, "a" if self.append else "w", newline="")
        self._writer: Any = None
        self._has_header = has_rows

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, ["epoch", *logs],
                                          delimiter=self.separator)
            if not self._has_header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._file.flush()
        return False

    def on_train_end(self, model: Any, history: History) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss or gradient is NaN or
    infinite, with the weights of the last finite step.

    With this callback among ``fit``'s callbacks, the training loop (compiled,
    or the NumPy backend's) checks every batch after its forward and backward
    pass and before its optimizer update: the batch's loss value (its mean
    loss over its rows, the figure the logged ``loss`` averages) and every
    element of its gradient (before any clipping).  At the first NaN or
    infinity it does not take that update and ends training:

    * the weights and the optimizer's state (its step count included) are
      those after the batch before, so a later ``fit`` resumes from there;
    * the history records the epoch as far as it got: ``loss`` (and
      ``accuracy``) over the batches taken before the stopped one (NaN when
      it is the epoch's first), the validation figures of the weights kept,
      ``lr`` and ``time``; ``History.stopped_epoch`` is that epoch;
    * the other callbacks' ``on_epoch_end`` see those logs, and every
      ``on_train_end`` runs;
    * a ``RuntimeWarning`` says where: "TerminateOnNaN: epoch E, batch B:
      the loss or the gradient is NaN or infinite; training stopped before
      that batch's update" (E and B counting from 1, as the progress bar).

    What is not checked: the update itself and the weights.  An update that
    overflows from a finite gradient (infinite weights after a finite step)
    shows up at the next batch's check, whose loss or gradient it makes
    non-finite; the weights kept are then those non-finite ones, and ``fit``
    raises ``FloatingPointError`` at the end of the epoch as it does without
    this callback.  If that batch was the epoch's last, the epoch ends and
    ``fit`` raises likewise.

    Without this callback nothing is checked per batch and training runs
    exactly as before.  With it, plain gradient descent takes its update
    after the backward pass instead of during it (the same bits; with the
    gradient's scan, measured on 784-128-10 in float32 here: about 6% fewer
    samples/s at batch 32, a fifth fewer at batch 1, whose fused first-layer
    pass is lost), and NaN or infinity in X is always refused by
    a scan before training (``fit`` otherwise may leave that check to the
    first epoch, which this callback could end before the bad row).

    It refuses data-parallel training (``comm``, local SGD included) with a
    ``ValueError`` before anything is trained: there, a rank's loss is its own
    shard's, and ranks that share a machine's model each sum and update only
    a slice of the gradient, so the ranks could disagree about stopping.

    Attributes
    ----------
    stopped_epoch : int or None
        The epoch (from 0) in which training stopped, None if it did not.
    stopped_batch : int or None
        The batch of that epoch (from 0) whose update was not taken.
    """

    def __init__(self) -> None:
        self.stopped_epoch: int | None = None
        self.stopped_batch: int | None = None

    def on_train_begin(self, model: Any) -> None:
        self.stopped_epoch = self.stopped_batch = None

    def _stopped(self, epoch: int, batch: int) -> None:
        """Called by ``fit`` when the loop stopped before batch ``batch`` of ``epoch``."""
        self.stopped_epoch, self.stopped_batch = epoch, batch
        warnings.warn("TerminateOnNaN: epoch %d, batch %d: the loss or the gradient is NaN "
                      "or infinite; training stopped before that batch's update"
                      % (epoch + 1, batch + 1), RuntimeWarning, stacklevel=4)
