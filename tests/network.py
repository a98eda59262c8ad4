"""A three-layer network written with either kernel module, for whole-network tests.

``forward_backward(module, ...)`` runs the textbook algorithm with
``fastnn.kernels`` or ``fastnn.reference`` (they share their signatures):
forward through each dense layer, loss and output delta, then backward layer
by layer.
"""

import numpy as np


def init_layers(rng, sizes, dtype):
    """[(W, b), ...] with W of shape (n_in, n_out), Glorot-scaled."""
    return [((rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / (n_in + n_out))).astype(dtype),
             (rng.standard_normal(n_out) * 0.1).astype(dtype))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def loss_value(module, X, Y, layers, activations, loss, alpha=0.01, huber_delta=1.0):
    A = X
    for (W, b), act in zip(layers, activations):
        A = module.dense_forward(A, W, b, act, alpha=alpha)
    return module.loss_gradient(A, Y, loss, huber_delta=huber_delta)[0]


def forward_backward(module, X, Y, layers, activations, loss, alpha=0.01, huber_delta=1.0):
    """Return the loss and [(dW, db), ...], the gradient of the mean batch loss.

    ``alpha``: every LeakyReLU's slope; ``huber_delta``: the Huber loss's δ.
    Each layer's pre-activations Z are kept for GELU's backward pass.
    """
    outputs, pre_activations = [X], [None]
    for (W, b), act in zip(layers, activations):
        pre_activations.append(module.dense_forward(outputs[-1], W, b))
        outputs.append(module.activation_forward(pre_activations[-1], act, alpha=alpha))
    value, delta = module.loss_delta(outputs[-1], Y, loss, activations[-1],
                                     huber_delta=huber_delta, Z=pre_activations[-1],
                                     alpha=alpha)
    grads = [None] * len(layers)
    dA, act = delta, "identity"          # the output delta is already dL/dZ
    for i in reversed(range(len(layers))):
        dW, db, dX = module.dense_backward(outputs[i], layers[i][0], outputs[i + 1], dA,
                                           act, need_dX=i > 0, Z=pre_activations[i + 1],
                                           alpha=alpha)
        grads[i] = (dW, db)
        dA, act = dX, activations[i - 1] if i > 0 else None
    return value, grads
