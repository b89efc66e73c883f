"""Tests for minitorch.layers: Linear and Sequential, with PyTorch as reference."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch import Linear, Module, Sequential


class Tanh(Module):
    """Activation used to build small networks in these tests."""

    def forward(self, x):
        self.output = np.tanh(x)
        return self.output

    def backward(self, grad_output):
        return grad_output * (1.0 - self.output**2)


def torch_linear_reference(layer, x, grad_output):
    """Return output, input gradient, weight gradient and bias gradient from torch."""
    x_t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    weight_t = torch.tensor(layer.weight, dtype=torch.float64, requires_grad=True)
    bias_t = torch.tensor(layer.bias, dtype=torch.float64, requires_grad=True)
    output_t = F.linear(x_t, weight_t.T, bias_t)
    output_t.backward(torch.tensor(grad_output, dtype=torch.float64))
    return (
        output_t.detach().numpy(),
        x_t.grad.numpy(),
        weight_t.grad.numpy(),
        bias_t.grad.numpy(),
    )


# Linear: construction


def test_linear_init_shapes_and_dtype():
    layer = Linear(3, 5, seed=0)

    assert layer.weight.shape == (3, 5)
    assert layer.bias.shape == (5,)
    assert layer.weight.dtype == np.float64
    assert layer.bias.dtype == np.float64


def test_linear_init_within_pytorch_bound():
    layer = Linear(16, 200, seed=1)
    bound = 1.0 / np.sqrt(16)

    assert np.all(np.abs(layer.weight) <= bound)
    assert np.all(np.abs(layer.bias) <= bound)
    # The draw spans most of the range, so the bound is not much too wide.
    assert np.max(np.abs(layer.weight)) > 0.95 * bound


def test_linear_init_same_seed_same_values():
    first = Linear(4, 3, seed=7)
    second = Linear(4, 3, seed=7)
    other = Linear(4, 3, seed=8)

    np.testing.assert_array_equal(first.weight, second.weight)
    np.testing.assert_array_equal(first.bias, second.bias)
    assert not np.array_equal(first.weight, other.weight)


def test_linear_init_rng_matches_seed():
    from_seed = Linear(4, 3, seed=3)
    from_rng = Linear(4, 3, rng=np.random.default_rng(3))

    np.testing.assert_array_equal(from_seed.weight, from_rng.weight)
    np.testing.assert_array_equal(from_seed.bias, from_rng.bias)


def test_linear_init_seed_and_rng_rejected():
    with pytest.raises(ValueError, match=r"either seed or rng, not both"):
        Linear(2, 2, seed=0, rng=np.random.default_rng(0))


def test_linear_init_rng_wrong_type():
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator, received int"):
        Linear(2, 2, rng=42)


@pytest.mark.parametrize(
    ("in_features", "out_features", "error", "pattern"),
    [
        (0, 2, ValueError, r"in_features must be a positive int, received 0"),
        (-3, 2, ValueError, r"in_features must be a positive int, received -3"),
        (2, 0, ValueError, r"out_features must be a positive int, received 0"),
        (2.5, 2, TypeError, r"in_features must be a positive int, received 2\.5"),
        (2, "4", TypeError, r"out_features must be a positive int, received '4'"),
        (True, 2, TypeError, r"in_features must be a positive int, received True"),
    ],
)
def test_linear_init_invalid_sizes(in_features, out_features, error, pattern):
    with pytest.raises(error, match=pattern):
        Linear(in_features, out_features)


def test_linear_init_accepts_numpy_int():
    layer = Linear(np.int64(3), np.int32(2), seed=0)

    assert layer.in_features == 3
    assert isinstance(layer.in_features, int)


# Linear: forward and backward against torch


@settings(max_examples=30, deadline=None)
@given(
    batch_size=st.integers(1, 6),
    in_features=st.integers(1, 5),
    out_features=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_linear_matches_torch(batch_size, in_features, out_features, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(in_features, out_features, rng=rng)
    x = rng.standard_normal((batch_size, in_features))
    grad_output = rng.standard_normal((batch_size, out_features))
    expected = torch_linear_reference(layer, x, grad_output)

    output = layer.forward(x)
    grad_input = layer.backward(grad_output)

    np.testing.assert_allclose(output, expected[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_input, expected[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grad_weight, expected[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grad_bias, expected[3], rtol=1e-12, atol=1e-12)


def test_linear_1d_input_matches_torch():
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, rng=rng)
    x = rng.standard_normal(4)
    grad_output = rng.standard_normal(3)
    expected = torch_linear_reference(layer, x, grad_output)

    output = layer.forward(x)
    grad_input = layer.backward(grad_output)

    assert output.shape == (3,)
    assert grad_input.shape == (4,)
    np.testing.assert_allclose(output, expected[0], rtol=1e-12)
    np.testing.assert_allclose(grad_input, expected[1], rtol=1e-12)
    np.testing.assert_allclose(layer.grad_weight, expected[2], rtol=1e-12)
    np.testing.assert_allclose(layer.grad_bias, expected[3], rtol=1e-12)


def test_linear_forward_integer_input_gives_float64():
    layer = Linear(2, 2, seed=0)

    output = layer(np.array([[1, 2]]))

    assert output.dtype == np.float64


def test_linear_grads_zero_before_backward():
    layer = Linear(3, 2, seed=0)
    grad_weight, grad_bias = layer.grads()

    np.testing.assert_array_equal(grad_weight, np.zeros((3, 2)))
    np.testing.assert_array_equal(grad_bias, np.zeros(2))


def test_linear_backward_overwrites_grads():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2, rng=rng)
    x = rng.standard_normal((4, 3))
    second_grad_output = rng.standard_normal((4, 2))

    layer.forward(x)
    layer.backward(rng.standard_normal((4, 2)))
    layer.forward(x)
    layer.backward(second_grad_output)

    np.testing.assert_allclose(layer.grad_weight, x.T @ second_grad_output)
    np.testing.assert_allclose(layer.grad_bias, second_grad_output.sum(axis=0))


def test_linear_parameters_and_grads_are_live_arrays():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2, rng=rng)
    layer.forward(rng.standard_normal((4, 3)))
    layer.backward(rng.standard_normal((4, 2)))

    weight, bias = layer.parameters()
    grad_weight, grad_bias = layer.grads()

    assert weight is layer.weight
    assert bias is layer.bias
    assert grad_weight is layer.grad_weight
    assert grad_bias is layer.grad_bias


def test_linear_backward_uses_input_at_forward_time():
    layer = Linear(2, 1, seed=0)
    x = np.array([[1.0, 2.0]])
    layer.forward(x)

    x[...] = 100.0
    layer.backward(np.array([[1.0]]))

    np.testing.assert_array_equal(layer.grad_weight, [[1.0], [2.0]])


def test_linear_backward_before_forward():
    layer = Linear(3, 2)

    with pytest.raises(
        RuntimeError,
        match=r"^Linear\.backward was called before forward: call forward\(x\) first",
    ):
        layer.backward(np.ones((1, 2)))


def test_linear_forward_wrong_last_dimension():
    layer = Linear(3, 2)
    message = (
        "Linear.forward expected input with last dimension in_features=3, "
        "received x.shape=(5, 4)"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        layer.forward(np.ones((5, 4)))


@pytest.mark.parametrize("shape", [(), (2, 3, 3)])
def test_linear_forward_wrong_ndim(shape):
    layer = Linear(3, 2)

    with pytest.raises(ValueError, match=re.escape(f"received x.shape={shape}")):
        layer.forward(np.ones(shape))


def test_linear_backward_wrong_grad_shape():
    layer = Linear(3, 2)
    layer.forward(np.ones((5, 3)))
    message = (
        "Linear.backward expected grad_output with the shape of the last output "
        "(5, 2), received grad_output.shape=(5, 3)"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        layer.backward(np.ones((5, 3)))


def test_linear_repr():
    assert repr(Linear(3, 2)) == "Linear(in_features=3, out_features=2)"


# Sequential


def make_network(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(3, 4, rng=rng), Tanh(), Linear(4, 2, rng=rng))


def test_sequential_forward_chains_modules():
    model = make_network()
    x = np.random.default_rng(1).standard_normal((5, 3))

    output = model(x)

    expected = model[2](np.tanh(model[0](x)))
    np.testing.assert_allclose(output, expected)


def test_sequential_backward_matches_torch():
    model = make_network()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    grad_output = rng.standard_normal((5, 2))
    first, _, last = model
    x_t = torch.tensor(x, requires_grad=True)
    w1 = torch.tensor(first.weight, requires_grad=True)
    b1 = torch.tensor(first.bias, requires_grad=True)
    w2 = torch.tensor(last.weight, requires_grad=True)
    b2 = torch.tensor(last.bias, requires_grad=True)
    output_t = torch.tanh(x_t @ w1 + b1) @ w2 + b2
    output_t.backward(torch.tensor(grad_output))

    output = model.forward(x)
    grad_input = model.backward(grad_output)

    np.testing.assert_allclose(output, output_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_input, x_t.grad.numpy(), rtol=1e-12)
    expected_grads = [w1.grad, b1.grad, w2.grad, b2.grad]
    for grad, expected in zip(model.grads(), expected_grads, strict=True):
        np.testing.assert_allclose(grad, expected.numpy(), rtol=1e-12)


def test_sequential_parameters_concatenate_in_order():
    model = make_network()
    first, _, last = model

    params = model.parameters()
    grads = model.grads()

    expected_params = [first.weight, first.bias, last.weight, last.bias]
    assert len(params) == 4
    for param, expected in zip(params, expected_params, strict=True):
        assert param is expected
    assert [grad.shape for grad in grads] == [param.shape for param in params]


def test_sequential_len_index_and_iteration():
    model = make_network()

    assert len(model) == 3
    assert isinstance(model[1], Tanh)
    assert model[-1] is model.modules[2]
    assert list(model) == model.modules


def test_sequential_slice_returns_sequential():
    model = make_network()

    head = model[:2]

    assert isinstance(head, Sequential)
    assert len(head) == 2
    assert head[0] is model[0]


def test_sequential_empty_is_identity():
    model = Sequential()
    x = np.arange(3.0)

    assert model(x) is x
    assert model.backward(x) is x
    assert model.parameters() == []


def test_sequential_rejects_non_module():
    with pytest.raises(
        TypeError,
        match=r"Sequential argument at position 1 must be a Module, received int",
    ):
        Sequential(Linear(2, 2), 5)


def test_sequential_rejects_module_class():
    with pytest.raises(
        TypeError,
        match=r"position 0 is the class Tanh, not an instance: pass Tanh\(\)",
    ):
        Sequential(Tanh, Linear(2, 2))


def test_sequential_repr_lists_modules():
    model = Sequential(Linear(2, 3), Sequential(Tanh()))

    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3)\n"
        "  (1): Sequential(\n"
        "    (0): Tanh()\n"
        "  )\n"
        ")"
    )
