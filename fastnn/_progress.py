"""Minimal, dependency-free progress bars: ``fit(verbose=...)`` and ``fastnn bench``.

:class:`LineBar` draws done/total on one terminal line, redrawn in place and
throttled; its subclasses say what else the line shows.  One
:class:`ProgressBar` per training epoch::

    bar = ProgressBar(n_samples, epoch, epochs)
    for ...:
        bar.update(n_done, loss)
    bar.close({"val_loss": 0.12, "val_acc": 0.97})

draws, redrawn in place with a carriage return::

    Epoch 3/10 [=========>....................] 12000/60000  loss 0.1234  150,000 samples/s

and, on ``close``, the final line followed by the summary entries and the
epoch's wall time, then a newline (one line, wrapped here)::

    Epoch 3/10 [==============================] 60000/60000  loss 0.0981  152,310 samples/s
        val_loss 0.1200  val_acc 0.9700  0.4 s

Redraws are throttled by time (:data:`ProgressBar.min_interval`, 0.1 s, so at
most about ten per second), whatever the number of batches; the first update
and the final state (all samples done) are always drawn.
"""

import math
import numbers
import sys
import time

from fastnn._validation import check_scalar

__all__ = ["LineBar", "ProgressBar", "is_terminal"]


def is_terminal(file):
    """Whether ``file`` is a terminal (False for files without ``isatty`` or closed ones)."""
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _format_value(value):
    """Format a summary or loss value: floats with 4 decimals (tiny ones in e-notation)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return "{:,}".format(int(value))
    value = float(value)
    if value != 0 and math.isfinite(value) and abs(value) < 1e-3:
        return "%.3e" % value
    return "%.4f" % value


class LineBar:
    """Progress of a count of things, drawn on one terminal line.

    The line is ``[=========>....................] 12/87``; subclasses add to
    it by overriding :meth:`_line`.

    Parameters
    ----------
    total : int
        Number of things to do (>= 1).
    file : file-like or None, default None
        Where to draw; ``None`` means ``sys.stderr``, looked up when the bar is
        created (so redirections made after import are honoured).
    enabled : bool or None, default None
        ``None``: draw only when ``file.isatty()`` is true, so logs and pipes
        get no carriage-return noise.  ``True``: always draw.  ``False``: print
        nothing at all.
    width : int, default 30
        Number of characters inside the brackets.

    Attributes
    ----------
    enabled : bool
        Whether this bar draws anything.
    n_draws : int
        Number of times the line has been drawn (for tests and diagnostics).
    min_interval : float
        Minimum time in seconds between two redraws (class attribute, 0.1).

    Notes
    -----
    The bar can also be used as a context manager: leaving the ``with`` block
    calls :meth:`close` with no summary if it was not called, so an exception
    still ends the line.
    """

    min_interval = 0.1

    def __init__(self, total, file=None, enabled=None, width=30):
        self.total = check_scalar(total, "total", low=1, integer=True)
        self.width = check_scalar(width, "width", low=1, integer=True)
        self.file = sys.stderr if file is None else file
        if enabled is None:
            enabled = is_terminal(self.file)
        self.enabled = bool(enabled)
        self.n_draws = 0
        self._n_done = 0
        self._last_len = 0
        self._last_draw = -math.inf
        self._final_drawn = False
        self._closed = False
        self._start = time.perf_counter()

    def update(self, n_done):
        """Record progress and redraw the line if enough time has passed.

        Parameters
        ----------
        n_done : int
            Things done so far (cumulative).

        Notes
        -----
        The line is redrawn at most once per :attr:`min_interval` seconds; the
        first update and the one that reaches ``total`` are always drawn.
        With ``enabled=False`` this returns at once.
        """
        if not self.enabled or self._closed:
            return
        self._n_done = int(n_done)
        now = time.perf_counter()
        final = self._n_done >= self.total
        if final:
            if self._final_drawn:
                return
            self._final_drawn = True
        elif now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._draw(self._line(now))

    def close(self, summary=None):
        """Draw the final line, with ``summary`` and the elapsed time, and end it.

        Parameters
        ----------
        summary : dict or None
            Entries appended after the progress, in order, as ``key value``
            (e.g. ``{"val_loss": 0.12, "val_acc": 0.97}`` gives
            ``val_loss 0.1200  val_acc 0.9700``), followed by the seconds
            since the bar was created (``2.1 s``).

        Notes
        -----
        The line shows the last recorded progress, even if that update was not
        drawn because of throttling.  Calling ``close`` again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        now = time.perf_counter()
        parts = [self._line(now)]
        for key, value in (summary or {}).items():
            parts.append("%s %s" % (key, _format_value(value)))
        parts.append("%.1f s" % (now - self._start))
        self._draw("  ".join(parts), end="\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def _line(self, now):
        """The progress line for the current state (no carriage return)."""
        total, n = self.total, self._n_done
        fraction = min(max(n / total, 0.0), 1.0)
        filled = int(self.width * fraction)
        if filled >= self.width:
            bar = "=" * self.width
        elif filled == 0:
            bar = "." * self.width if n <= 0 else ">" + "." * (self.width - 1)
        else:
            bar = "=" * (filled - 1) + ">" + "." * (self.width - filled)
        return "[%s] %*d/%d" % (bar, len(str(total)), n, total)

    def _draw(self, line, end=""):
        """Overwrite the current terminal line with ``line``."""
        pad = " " * max(self._last_len - len(line), 0)  # erase a longer previous line
        self.file.write("\r" + line + pad + end)
        self.file.flush()
        self._last_len = 0 if end else len(line)
        self.n_draws += 1


class ProgressBar(LineBar):
    """Progress of one training epoch, drawn on one terminal line.

    Parameters
    ----------
    total_samples : int
        Number of samples in the epoch (>= 1).
    epoch : int
        The epoch number as displayed, counted from 1.
    epochs : int
        The total number of epochs, as displayed.
    file, enabled, width
        See :class:`LineBar`.

    Attributes
    ----------
    enabled, n_draws, min_interval
        See :class:`LineBar`.
    """

    def __init__(self, total_samples, epoch, epochs, file=None, enabled=None, width=30):
        total_samples = check_scalar(total_samples, "total_samples", low=1, integer=True)
        self.epoch = check_scalar(epoch, "epoch", low=0, integer=True)
        self.epochs = check_scalar(epochs, "epochs", low=0, integer=True)
        super().__init__(total_samples, file, enabled, width)
        self._loss = None

    def update(self, n_samples_done, loss=None):
        """Record progress and redraw the line if enough time has passed.

        Parameters
        ----------
        n_samples_done : int
            Samples processed so far in this epoch (cumulative, not per batch).
        loss : float or None
            The running training loss to display (``None``: not shown).

        Notes
        -----
        Throttled as :meth:`LineBar.update`.
        """
        if not self._closed:
            self._loss = loss
        super().update(n_samples_done)

    def _line(self, now):
        parts = ["Epoch %d/%d %s" % (self.epoch, self.epochs, super()._line(now))]
        if self._loss is not None:
            parts.append("loss %s" % _format_value(float(self._loss)))
        elapsed = now - self._start
        if elapsed > 0 and self._n_done > 0:
            parts.append("{:,.0f} samples/s".format(self._n_done / elapsed))
        return "  ".join(parts)
