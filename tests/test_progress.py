"""fastnn._progress.ProgressBar: silent off a terminal, content, throttling, final state.

Most tests replace the module's clock with a fake one (``clock`` fixture) so the
throttling and the samples/s figure are exact; one test checks the throttling
against the real clock in a tight loop.
"""

import io
import re
import sys
import time
import types

import pytest

from fastnn import _progress
from fastnn._progress import ProgressBar


class FakeClock:
    """A perf_counter that moves only when told to."""

    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(_progress, "time", types.SimpleNamespace(perf_counter=fake))
    return fake


class TTY(io.StringIO):
    def isatty(self):
        return True


def draws(text):
    """The successive states drawn: the text between carriage returns."""
    return [part for part in text.split("\r") if part]


def test_silent_when_not_a_tty():
    out = io.StringIO()
    bar = ProgressBar(100, 1, 5, file=out)
    assert not bar.enabled
    for n in range(0, 101, 10):
        bar.update(n, 0.5)
    bar.close({"val_loss": 0.1})
    assert out.getvalue() == ""
    assert bar.n_draws == 0


def test_enabled_on_a_tty():
    out = TTY()
    bar = ProgressBar(100, 1, 5, file=out)
    assert bar.enabled
    bar.update(100, 0.5)
    bar.close()
    assert "Epoch 1/5" in out.getvalue()


def test_disabled_prints_nothing_even_on_a_tty():
    out = TTY()
    bar = ProgressBar(100, 1, 5, file=out, enabled=False)
    bar.update(50, 0.5)
    bar.update(100, 0.5)
    bar.close({"val_acc": 0.9})
    assert out.getvalue() == ""


def test_file_without_isatty_is_not_a_tty():
    class Sink:
        def __init__(self):
            self.parts = []

        def write(self, s):
            self.parts.append(s)

        def flush(self):
            pass

    sink = Sink()
    ProgressBar(10, 1, 1, file=sink).update(10, 1.0)
    assert sink.parts == []


def test_default_file_is_stderr_at_call_time(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    bar = ProgressBar(10, 2, 3, enabled=True)
    bar.update(10, 0.25)
    bar.close()
    assert "Epoch 2/3" in out.getvalue()


def test_content(clock):
    out = io.StringIO()
    bar = ProgressBar(60000, 3, 10, file=out, enabled=True)
    clock.advance(0.08)
    bar.update(12000, 0.1234)
    line = draws(out.getvalue())[-1]
    assert line.startswith("Epoch 3/10 [")
    assert "12000/60000" in line
    assert "loss 0.1234" in line
    assert "150,000 samples/s" in line                  # 12,000 samples in 0.08 s
    assert re.search(r"\[=====>\.{24}\]", line)        # 20% of 30 characters
    assert "\n" not in out.getvalue()                  # redrawn in place until close


def test_close_prints_summary_and_newline(clock):
    out = io.StringIO()
    bar = ProgressBar(60000, 3, 10, file=out, enabled=True)
    clock.advance(2.1)
    bar.update(60000, 0.0987)
    bar.close({"val_loss": 0.12, "val_acc": 0.97})
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    final = draws(text)[-1]
    assert final.startswith("Epoch 3/10 [" + "=" * 30 + "] 60000/60000")
    assert "loss 0.0987" in final
    assert "val_loss 0.1200  val_acc 0.9700" in final
    assert final.rstrip("\n").endswith("2.1 s")


def test_summary_value_formats(clock):
    out = io.StringIO()
    bar = ProgressBar(10, 1, 1, file=out, enabled=True)
    bar.update(10, 2e-5)
    bar.close({"n": 12345, "tiny": 1e-5, "note": "early stop"})
    final = draws(out.getvalue())[-1]
    assert "loss 2.000e-05" in final
    assert "n 12,345" in final and "tiny 1.000e-05" in final and "note early stop" in final


def test_throttling_fake_clock(clock):
    out = io.StringIO()
    bar = ProgressBar(10_000, 1, 1, file=out, enabled=True)
    for n in range(1, 1001):      # 1,000 updates over 1 s, none final
        clock.advance(0.001)
        bar.update(n, 1.0)
    # The first update, then one per 0.1 s.
    assert 10 <= bar.n_draws <= 11
    assert len(draws(out.getvalue())) == bar.n_draws


def test_throttling_real_clock():
    out = io.StringIO()
    bar = ProgressBar(10**9, 1, 1, file=out, enabled=True)
    start = time.perf_counter()
    for n in range(1, 100_001):
        bar.update(n, 0.5)
    elapsed = time.perf_counter() - start
    assert bar.n_draws <= 2 + elapsed / ProgressBar.min_interval
    assert bar.n_draws < 100


def test_final_state_always_drawn(clock):
    out = io.StringIO()
    bar = ProgressBar(100, 1, 1, file=out, enabled=True)
    bar.update(10, 0.9)           # drawn: the first update
    bar.update(50, 0.8)           # throttled: no time has passed
    bar.update(100, 0.7)          # drawn: final state, even with no time passed
    states = draws(out.getvalue())
    assert len(states) == 2
    assert "100/100" in states[-1] and "loss 0.7000" in states[-1]
    bar.update(100, 0.7)          # the final state is not drawn twice
    assert bar.n_draws == 2


def test_close_draws_last_throttled_state(clock):
    out = io.StringIO()
    bar = ProgressBar(100, 1, 1, file=out, enabled=True)
    bar.update(10, 0.9)
    bar.update(50, 0.8)           # throttled, e.g. training stopped here
    bar.close()
    final = draws(out.getvalue())[-1]
    assert " 50/100" in final and "loss 0.8000" in final and final.endswith("\n")


def test_shorter_line_erases_longer_one(clock):
    out = io.StringIO()
    bar = ProgressBar(100, 1, 1, file=out, enabled=True)
    bar.update(10, 123456.0)
    clock.advance(1.0)
    bar.update(20, 1.0)
    first, second = draws(out.getvalue())
    assert len(second) >= len(first)


def test_close_once_and_context_manager(clock):
    out = io.StringIO()
    with ProgressBar(100, 1, 1, file=out, enabled=True) as bar:
        bar.update(100, 0.5)
    assert out.getvalue().count("\n") == 1
    bar.close({"val_loss": 1.0})
    bar.update(50, 0.1)
    assert out.getvalue().count("\n") == 1 and "val_loss" not in out.getvalue()


def test_close_without_updates(clock):
    out = io.StringIO()
    bar = ProgressBar(100, 1, 1, file=out, enabled=True)
    bar.close()
    text = out.getvalue()
    assert "  0/100" in text and "loss" not in text and text.endswith("\n")


@pytest.mark.parametrize("kwargs, error", [
    (dict(total_samples=0), ValueError),
    (dict(total_samples=1.5), TypeError),
    (dict(epoch=-1), ValueError),
    (dict(width=0), ValueError),
    (dict(width="30"), TypeError),
])
def test_bad_arguments(kwargs, error):
    args = dict(total_samples=10, epoch=1, epochs=1, file=io.StringIO())
    args.update(kwargs)
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        ProgressBar(**args)
