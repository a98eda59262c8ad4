"""fastnn.layers and fastnn.losses: validation, initialisers, configs, loss lookup."""

import numpy as np
import pytest

import fastnn
from fastnn import (
    GELU, BCELoss, BCEWithLogitsLoss, CrossEntropyFromLogitsLoss, CrossEntropyLoss, Dense,
    HuberLoss, Identity, LeakyReLU, LogSoftmax, MSELoss, ReLU, Sequential, Sigmoid, Softmax,
    Softplus, Step, Tanh)
from fastnn.layers import INITIALIZERS, LAYER_TYPES, Dropout, layer_from_config
from fastnn.losses import get_loss, loss_from_config


# --- Dense validation --------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(n_in=0, n_out=3), ValueError, "n_in"),
    (dict(n_in=3, n_out=0), ValueError, "n_out"),
    (dict(n_in=-2, n_out=3), ValueError, "n_in"),
    (dict(n_in=2.5, n_out=3), TypeError, "n_in must be an integer"),
    (dict(n_in="3", n_out=3), TypeError, "n_in must be an integer"),
    (dict(n_in=True, n_out=3), TypeError, "n_in must be an integer"),
    (dict(n_in=3, n_out=None), TypeError, "n_out must be an integer"),
    (dict(n_in=3, n_out=2, init="xavier"), ValueError, "init must be one of"),
    (dict(n_in=3, n_out=2, init="HE_NORMAL"), ValueError, "init must be one of"),
], ids=["n_in-0", "n_out-0", "n_in-negative", "n_in-float", "n_in-str", "n_in-bool",
        "n_out-None", "init-unknown", "init-case"])
def test_dense_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Dense(**kwargs)


def test_dense_accepts_numpy_integers_and_every_initializer():
    d = Dense(np.int64(3), np.int32(4))
    assert (d.n_in, d.n_out) == (3, 4) and isinstance(d.n_in, int)
    assert d.init is None and d.W is None and d.b is None
    for name in INITIALIZERS:
        assert Dense(2, 2, init=name).init == name
    assert set(INITIALIZERS) == {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                 "lecun_normal", "standard_normal"}


# --- initialisation ---------------------------------------------------------------------------

N_IN, N_OUT = 400, 300


def _init(activation, init=None, seed=0):
    """W and b of a Dense(N_IN, N_OUT) initialised as if followed by ``activation``."""
    layer = Dense(N_IN, N_OUT, init=init)
    layer.W = np.zeros((N_IN, N_OUT))
    layer.b = np.full(N_OUT, 7.0)
    layer.initialize(np.random.default_rng(seed), activation)
    return layer.W, layer.b


def test_default_init_for_relu_is_he_normal():
    W, b = _init("relu")
    assert W.std() == pytest.approx(np.sqrt(2.0 / N_IN), rel=0.02)
    assert abs(W.mean()) < 0.005
    assert np.abs(W).max() > np.sqrt(6.0 / N_IN)      # normal, not uniform: has tails
    np.testing.assert_array_equal(b, 0)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "identity", "softmax"])
def test_default_init_otherwise_is_glorot_uniform(activation):
    W, b = _init(activation)
    bound = np.sqrt(6.0 / (N_IN + N_OUT))
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.99 * bound
    assert W.std() == pytest.approx(bound / np.sqrt(3.0), rel=0.02)   # uniform on [-l, l]
    np.testing.assert_array_equal(b, 0)


@pytest.mark.parametrize("init, std, bound", [
    ("glorot_uniform", np.sqrt(2.0 / (N_IN + N_OUT)), np.sqrt(6.0 / (N_IN + N_OUT))),
    ("glorot_normal", np.sqrt(2.0 / (N_IN + N_OUT)), None),
    ("he_uniform", np.sqrt(2.0 / N_IN), np.sqrt(6.0 / N_IN)),
    ("he_normal", np.sqrt(2.0 / N_IN), None),
    ("lecun_normal", np.sqrt(1.0 / N_IN), None),
])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_selected_init_overrides_the_default(init, std, bound, activation):
    W, b = _init(activation, init=init)
    assert W.std() == pytest.approx(std, rel=0.02)
    if bound is not None:
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound
    else:
        assert np.abs(W).max() > np.sqrt(3.0) * std * 1.2    # a normal's tails
    np.testing.assert_array_equal(b, 0)


def test_standard_normal_init_draws_weights_and_biases_from_n01():
    layer = Dense(50, 4000, init="standard_normal")
    layer.W = np.zeros((50, 4000))
    layer.b = np.zeros(4000)
    layer.initialize(np.random.default_rng(1), "sigmoid")
    assert layer.W.std() == pytest.approx(1.0, rel=0.02)
    assert abs(layer.W.mean()) < 0.01
    assert layer.b.std() == pytest.approx(1.0, rel=0.05)
    assert abs(layer.b.mean()) < 0.06
    assert len(np.unique(layer.b)) == 4000


def test_model_uses_the_default_init_per_activation():
    model = Sequential([Dense(N_IN, N_OUT), ReLU(), Dense(N_OUT, 200), Tanh(),
                        Dense(200, 10, init="he_uniform"), Softmax()], dtype="float64", seed=3)
    W0, W1, W2 = (d.W for d in model.dense)
    assert W0.std() == pytest.approx(np.sqrt(2.0 / N_IN), rel=0.02)          # he_normal
    assert np.abs(W1).max() <= np.sqrt(6.0 / (N_OUT + 200))                   # glorot_uniform
    assert W1.std() == pytest.approx(np.sqrt(2.0 / (N_OUT + 200)), rel=0.03)
    assert np.abs(W2).max() <= np.sqrt(6.0 / 200)                             # he_uniform
    assert np.abs(W2).max() > np.sqrt(6.0 / (200 + 10))                       # not glorot
    for d in model.dense:
        np.testing.assert_array_equal(d.b, 0)


def test_model_float32_init_and_standard_normal_biases():
    model = Sequential([Dense(10, 2000, init="standard_normal"), Sigmoid(), Dense(2000, 1)],
                       dtype="float32", seed=0)
    assert model.params.dtype == np.float32
    assert model.dense[0].b.std() == pytest.approx(1.0, rel=0.05)
    np.testing.assert_array_equal(model.dense[1].b, 0)


def test_init_is_reproducible_from_the_rng():
    W1, _ = _init("relu", seed=4)
    W2, _ = _init("relu", seed=4)
    W3, _ = _init("relu", seed=5)
    np.testing.assert_array_equal(W1, W2)
    assert not np.array_equal(W1, W3)


# --- layer configs ----------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [Dense(3, 5), Dense(7, 2, init="he_uniform"), Identity(),
                                   Sigmoid(), Tanh(), ReLU(), Softmax(), Step(), LeakyReLU(),
                                   LeakyReLU(0.25), GELU(), Softplus(), LogSoftmax()],
                         ids=repr)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    assert config["type"] == type(layer).__name__
    rebuilt = layer_from_config(config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config
    assert repr(rebuilt) == repr(layer)
    assert rebuilt is not layer


def test_layer_configs():
    assert Dense(3, 5).get_config() == {"type": "Dense", "n_in": 3, "n_out": 5, "init": None}
    assert Dense(3, 5, init="lecun_normal").get_config()["init"] == "lecun_normal"
    assert ReLU().get_config() == {"type": "ReLU"}
    assert set(LAYER_TYPES) == {"Dense", "Identity", "Sigmoid", "Tanh", "ReLU", "Softmax", "Step",
                                "LeakyReLU", "GELU", "Softplus", "LogSoftmax", "Dropout",
                                "BatchNorm", "LayerNorm"}
    assert LeakyReLU(0.25).get_config() == {"type": "LeakyReLU", "alpha": 0.25}
    assert layer_from_config({"type": "LeakyReLU", "alpha": 0.5}).alpha == 0.5
    assert repr(LeakyReLU()) == "LeakyReLU(alpha=0.01)"
    assert [LeakyReLU.name, GELU.name, Softplus.name, LogSoftmax.name] == \
        ["leaky_relu", "gelu", "softplus", "log_softmax"]
    assert LeakyReLU(0.5).kernel_param == 0.5 and GELU().kernel_param == 0.0
    assert layer_from_config(Dropout(0.25).get_config()).rate == 0.25
    assert repr(Dropout(0.25)) == "Dropout(0.25)"
    assert [ReLU.name, Sigmoid.name, Tanh.name, Softmax.name, Identity.name, Step.name] == \
        ["relu", "sigmoid", "tanh", "softmax", "identity", "step"]
    assert repr(Dense(3, 5)) == "Dense(3, 5)"
    assert repr(Dense(3, 5, init="he_normal")) == "Dense(3, 5, init='he_normal')"


@pytest.mark.parametrize("config, exc, match", [
    ({"type": "Conv2D"}, ValueError, "unknown layer type 'Conv2D'"),
    ({}, ValueError, "unknown layer type None"),
    ({"type": "Dense", "n_in": 0, "n_out": 3}, ValueError, "n_in"),
    ({"type": "Dense", "n_in": 2, "n_out": 3, "init": "bogus"}, ValueError, "init"),
    ({"type": "Dense", "n_in": 2}, KeyError, "n_out"),
    ({"type": "LeakyReLU", "alpha": -1}, ValueError, r"alpha must be in \[0, inf\)"),
    ({"type": "LeakyReLU", "alpha": "0.1"}, TypeError, "alpha must be a real number"),
    ({"type": "LeakyReLU"}, KeyError, "alpha"),
])
def test_layer_from_bad_config(config, exc, match):
    with pytest.raises(exc, match=match):
        layer_from_config(config)


def test_model_rebuilt_from_layer_configs_has_the_same_weights():
    layers = [Dense(4, 6, init="glorot_normal"), Tanh(), Dense(6, 3), Softmax()]
    a = Sequential(layers, dtype="float64", seed=8)
    b = Sequential([layer_from_config(l.get_config()) for l in layers], dtype="float64", seed=8)
    np.testing.assert_array_equal(a.params, b.params)


# --- losses -----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, exc", [(-0.5, ValueError), (float("nan"), ValueError),
                                      (float("inf"), ValueError), ("1", TypeError)])
def test_leaky_relu_rejects_bad_alpha(bad, exc):
    with pytest.raises(exc, match="alpha"):
        LeakyReLU(bad)


def test_leaky_relu_layer_defaults_to_he_init():
    model = Sequential([Dense(400, 300), LeakyReLU(0.1), Dense(300, 1)], dtype="float64", seed=0)
    assert model.dense[0].W.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)


@pytest.mark.parametrize("name, cls", [("mse", MSELoss), ("bce", BCELoss),
                                       ("cce", CrossEntropyLoss),
                                       ("cross_entropy_from_logits", CrossEntropyFromLogitsLoss),
                                       ("bce_with_logits", BCEWithLogitsLoss),
                                       ("huber", HuberLoss)])
def test_get_loss_by_name_class_or_instance(name, cls):
    by_name = get_loss(name)
    assert type(by_name) is cls and by_name.name == name
    by_class = get_loss(cls)
    assert type(by_class) is cls
    inst = cls()
    assert get_loss(inst) is inst
    assert repr(inst) == ("HuberLoss(delta=1.0)" if cls is HuberLoss else "%s()" % cls.__name__)
    assert type(loss_from_config(inst.get_config())) is cls
    assert type(loss_from_config(name)) is cls      # how older model files name it


def test_huber_loss_delta():
    loss = HuberLoss(0.25)
    assert loss.delta == 0.25 and loss.kernel_options() == {"huber_delta": 0.25}
    assert get_loss(loss) is loss
    assert loss_from_config(loss.get_config()).delta == 0.25
    assert get_loss("huber_loss").delta == 1.0
    assert get_loss("binary_cross_entropy_with_logits").name == "bce_with_logits"
    for bad, exc in [(0, ValueError), (-1.0, ValueError), (float("inf"), ValueError),
                     (None, TypeError)]:
        with pytest.raises(exc, match="delta"):
            HuberLoss(bad)
    with pytest.raises(ValueError, match="loss 'huber' has no options \\['alpha'\\]"):
        loss_from_config({"name": "huber", "alpha": 1})
    with pytest.raises(ValueError, match="a loss config must be a dict with a 'name'"):
        loss_from_config({"name": "hinge"})


@pytest.mark.parametrize("bad", ["MSE", "hinge", "", None, 3, object(), b"mse",
                                 fastnn.Sigmoid(), fastnn.Sigmoid, str],
                         ids=["upper", "unknown", "empty", "None", "int", "object", "bytes",
                              "layer", "layer-class", "str-class"])
def test_get_loss_rejects_bad_names(bad):
    with pytest.raises(ValueError, match="loss must be a fastnn loss"):
        get_loss(bad)


def test_loss_properties():
    assert not MSELoss.classification and MSELoss.output_activations is None
    assert BCELoss.classification and BCELoss.output_activations == ("sigmoid",)
    assert CrossEntropyLoss.classification and CrossEntropyLoss.output_activations == ("softmax",)
    for cls, proba in [(CrossEntropyFromLogitsLoss, "softmax"), (BCEWithLogitsLoss, "sigmoid")]:
        assert cls.classification and cls.output_activations == ("identity",)
        assert cls.from_logits == proba
    assert not HuberLoss.classification and HuberLoss.output_activations is None
    assert MSELoss.from_logits is None and CrossEntropyLoss.from_logits is None


@pytest.mark.parametrize("loss, ok, bad", [
    (MSELoss(), ["identity", "sigmoid", "tanh", "relu", "softmax"], []),
    (BCELoss(), ["sigmoid"], ["identity", "softmax", "tanh", "relu"]),
    (CrossEntropyLoss(), ["softmax"], ["identity", "sigmoid", "tanh", "relu"]),
])
def test_loss_check_output(loss, ok, bad):
    for act in ok:
        loss.check_output(act)
    for act in bad:
        with pytest.raises(ValueError, match="%s needs probabilities.*%r"
                           % (type(loss).__name__, act)):
            loss.check_output(act)


@pytest.mark.parametrize("loss", [CrossEntropyFromLogitsLoss(), BCEWithLogitsLoss()])
def test_from_logits_losses_need_a_linear_output(loss):
    loss.check_output("identity")
    for act in ["softmax", "sigmoid", "relu", "gelu"]:
        with pytest.raises(ValueError, match="%s needs logits: the model's last layer must be "
                           "identity, got %r" % (type(loss).__name__, act)):
            loss.check_output(act)
    # log-probabilities are refused with the way to train that network
    with pytest.raises(ValueError, match="for log-probabilities, end the model with a linear "
                       "layer .*CrossEntropyFromLogitsLoss"):
        loss.check_output("log_softmax")
    with pytest.raises(ValueError, match="CrossEntropyFromLogitsLoss"):
        CrossEntropyLoss().check_output("log_softmax")
