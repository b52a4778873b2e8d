from pathlib import Path

import pytest
import torch

from hw1core import models
from report.layers import depth, layer_summary

# The parameter counts printed in SPEC.md's tables: the reference the model code must reproduce.
SPEC_COUNTS = {
    "MLP-deep": 571, "MLP-middle": 572, "MLP-shallow": 571, "MLP-deep-r": 573, "MLP-middle-r": 574, "MLP-shallow-r": 573,
    "CNN-shallow": 36_458, "CNN-deep": 46_842, "CNN-wide": 430_102,
    "MNIST-CNN-1": 25_550, "MNIST-CNN-2": 25_570, "MNIST-CNN-3": 25_119,
    "MLP-random-labels": 149_002,
    "CNN-21": 11_085, "CNN-22": 12_029, "CNN-23": 13_656, "CNN-24": 16_904, "CNN-25": 29_254, "CNN-26": 52_004,
    "CNN-27": 63_054, "CNN-28": 74_754, "CNN-29": 83_854, "CNN-30": 130_122, "CNN-31": 425_194,
}


@pytest.mark.parametrize("name,count", SPEC_COUNTS.items())
def test_parameter_count_matches_spec(name, count):
    assert models.param_count_of(name) == count
    assert sum(r["params"] for r in layer_summary(name)) == count


def test_reference_counts_are_the_ones_in_spec():
    spec = Path(__file__).resolve().parents[2] / "shared" / "SPEC.md"
    if not spec.is_file():
        pytest.skip("../shared/SPEC.md not beside this checkout")
    text = spec.read_text()
    for count in SPEC_COUNTS.values():
        assert f"{count:,}" in text or f"| {count} |" in text or str(count) in text


@pytest.mark.parametrize("name", list(models.ARCHS))
def test_every_architecture_maps_its_input_to_ten_or_one_outputs(name):
    arch = models.ARCHS[name]
    out = models.build(name)(torch.zeros(2, *arch.input_shape))
    assert out.shape == (2, 1 if name.startswith("MLP-") and name != "MLP-random-labels" else 10)


def test_layer_summary_reports_output_shapes():
    rows = layer_summary("CNN-shallow")
    assert [r["output"] for r in rows] == ["16×30×30", "10"]
    assert rows[0]["weight"] == "16×3×3×3"


def test_every_layer_table_uses_readable_names():
    assert [r["layer"] for r in layer_summary("MNIST-CNN-2")] == ["conv1", "conv2", "fc1", "fc2", "fc3", "fc4", "fc5"]
    assert [r["layer"] for r in layer_summary("MLP-random-labels")] == ["fc1", "fc2", "fc3"]
    for name in models.ARCHS:
        layers = [r["layer"] for r in layer_summary(name)]
        assert len(set(layers)) == len(layers) and not any(ch.isdigit() for ch in (n[0] for n in layers)), name
        assert all("." not in n for n in layers), name


def test_depth_counts_weight_layers():
    assert depth("MLP-minratio") == 3 and depth("MNIST-CNN-2") == 7 and depth("CNN-wide") == 4


@pytest.mark.parametrize("name", ["CNN-shallow", "CNN-deep", "MNIST-CNN-1"])
def test_pooling_before_relu_is_the_same_function_with_the_same_gradients(name):
    """The conv stacks pool before their ReLU; swapping each pair back must change neither outputs nor gradients."""
    torch.manual_seed(0)
    model = models.build(name).eval()
    layers = list(model)
    pools = [i for i, layer in enumerate(layers) if isinstance(layer, torch.nn.MaxPool2d)]
    assert pools
    for i in pools:
        assert isinstance(layers[i + 1], torch.nn.ReLU)
        layers[i], layers[i + 1] = layers[i + 1], layers[i]
    relu_first = torch.nn.Sequential(*layers).eval()
    x = torch.randn(8, *models.ARCHS[name].input_shape)
    grads = []
    for net in (model, relu_first):
        net.zero_grad()
        out = net(x)
        out.square().sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in net.parameters()]))
    assert torch.equal(grads[0][0], grads[1][0])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads[0][1], grads[1][1]))


def kinks(arch: str, seed: int) -> torch.Tensor:
    """Where the first layer's units of a 1-D fit change slope: x = −b/w (the input layer has fan-in 1)."""
    torch.manual_seed(seed)
    first = models.build(arch)[0]
    return (-first.bias / first.weight[:, 0]).detach()


def test_function_fits_start_with_their_kinks_spread_over_the_inputs():
    """Zero biases put every first-layer kink of MLP-shallow at x = 0; nn.Linear's biases (±1 for fan-in 1) put
    about a third of its 190 inside [−1, 1], with both signs."""
    x = torch.cat([kinks("MLP-shallow", s) for s in range(3)])
    inside = x[(x > -1) & (x < 1)]
    assert len(inside) > 0.2 * len(x) and (inside < -0.3).any() and (inside > 0.3).any()


def test_zero_biases_zeroes_every_bias_of_a_stack_and_no_weight():
    from hw1core import engine
    stack = engine.Stack("MLP-middle", [0, 1])
    weights = {n: v.clone() for n, v in stack.params.items() if n.endswith("weight")}
    assert any(v.abs().sum() > 0 for n, v in stack.params.items() if n.endswith("bias"))
    models.zero_biases(stack.params)
    assert all((v == 0).all() for n, v in stack.params.items() if n.endswith("bias"))
    assert all(torch.equal(stack.params[n], v) for n, v in weights.items())
    x = torch.linspace(-1, 1, 9).unsqueeze(1)
    with torch.no_grad():  # with zero biases a LeakyReLU network is positively homogeneous: f(2x) = 2·f(x)
        assert torch.allclose(stack(2 * x, shared=True), 2 * stack(x, shared=True), atol=1e-5)
