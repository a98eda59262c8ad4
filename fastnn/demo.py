"""``python -m fastnn demo``: train a handwritten-digit classifier and report.

Two demos:

* default: scikit-learn's 8×8 digits (1,797 real handwritten digits shipped
  inside the scikit-learn package), a 64-128-10 ReLU/softmax network trained
  with Adam on mini-batches of 32;
* ``--mnist DIR``: the textbook network of Nielsen's *Neural Networks and Deep
  Learning*, chapter 1: 784-30-10 sigmoid units, quadratic cost, stochastic
  gradient descent on mini-batches of 10 with learning rate 3.0, on the MNIST
  IDX files in DIR (about 95% test accuracy).
"""

import sys
import time

import fastnn
from fastnn.datasets import load_digits, load_mnist


def _report(model, X_test, y_test, seconds, n_train, epochs, file):
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    print("test accuracy: %.2f%% (%d of %d digits)" % (
        100 * accuracy, round(accuracy * len(y_test)), len(y_test)), file=file)
    print("training time: %.2f s (%d samples x %d epochs, %s samples/s)" % (
        seconds, n_train, epochs, "{:,.0f}".format(n_train * epochs / seconds)), file=file)
    return accuracy


def digits(epochs=40, seed=0, verbose=1, file=None):
    """Train the 8×8-digits classifier; return its test accuracy."""
    file = file or sys.stdout
    X_train, y_train, X_test, y_test = load_digits(seed=seed)
    model = fastnn.Sequential([fastnn.Dense(64, 128), fastnn.ReLU(),
                               fastnn.Dense(128, 10), fastnn.Softmax()], seed=seed)
    print("scikit-learn digits: %d training and %d test images of 8x8 pixels"
          % (len(y_train), len(y_test)), file=file)
    model.summary(file=file)
    started = time.perf_counter()
    model.fit(X_train, y_train, fastnn.CrossEntropyLoss(), fastnn.Adam(3e-3), epochs=epochs,
              batch_size=32, verbose=verbose)
    return _report(model, X_test, y_test, time.perf_counter() - started, len(y_train),
                   epochs, file)


def mnist(directory, epochs=30, seed=0, verbose=1, file=None):
    """Train Nielsen's 784-30-10 sigmoid network on MNIST; return its test accuracy."""
    file = file or sys.stdout
    X_train, y_train, X_test, y_test = load_mnist(directory)
    model = fastnn.Sequential([fastnn.Dense(784, 30), fastnn.Sigmoid(),
                               fastnn.Dense(30, 10), fastnn.Sigmoid()], seed=seed)
    print("MNIST: %d training and %d test images of 28x28 pixels"
          % (len(y_train), len(y_test)), file=file)
    model.summary(file=file)

    def show(epoch, logs):
        print("epoch %d: test accuracy %.2f%%" % (
            epoch + 1, 100 * model.evaluate(X_test, y_test)["accuracy"]), file=file)

    started = time.perf_counter()
    model.fit(X_train, y_train, fastnn.MSELoss(), fastnn.MiniBatchGD(3.0, batch_size=10),
              epochs=epochs, verbose=verbose, callbacks=[show] if verbose else ())
    return _report(model, X_test, y_test, time.perf_counter() - started, len(y_train),
                   epochs, file)
