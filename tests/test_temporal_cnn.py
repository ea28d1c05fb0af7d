"""The temporal-CNN student: shapes, maps, in-model standardisation, registry, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosskd.errors import ConfigError
from crosskd.losses import FeatureDims
from crosskd.losses.shapes import aligned_sequences
from crosskd.models import ModelOutput, build_model, model_names
from crosskd.models.temporal_cnn import TemporalCNN, input_stats

SMALL = {"channels": [8, 16, 16], "kernel_size": 5, "embedding_dim": 12}


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def test_registered_and_built_by_name():
    assert "temporal_cnn" in model_names()
    model = build_model("temporal_cnn", num_classes=4, **SMALL)
    assert isinstance(model, TemporalCNN)
    with pytest.raises(ConfigError, match="accepted arguments"):
        build_model("temporal_cnn", num_classes=4, widths=[8])


@pytest.mark.parametrize("in_channels", [3, 6])
@pytest.mark.parametrize("length", [64, 50])
def test_shapes_maps_and_gradients(in_channels: int, length: int):
    model = build_model("temporal_cnn", num_classes=5, in_channels=in_channels, **SMALL)
    x = torch.randn(4, in_channels, length)
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (4, 5)
    assert out.embedding.shape == (4, 12)
    assert (out.embedding >= 0).all()  # fc0 ends in a ReLU
    assert list(out.maps) == ["block1", "block2", "block3"]
    # pool 2 after every block but the last, ceil mode: 64 -> 32 -> 16 -> 16, 50 -> 25 -> 13
    lengths = [-(-length // 2), -(-length // 4), -(-length // 4)]
    for (name, fmap), c, n in zip(out.maps.items(), [8, 16, 16], lengths, strict=True):
        assert fmap.shape == (4, c, n), name
    assert model.map_channels == {"block1": 8, "block2": 16, "block3": 16}
    (out.logits.sum() + out.embedding.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"


def test_feature_dims_match_output():
    """The losses size their adapters from map_channels: it must agree with a forward pass."""
    model = build_model("temporal_cnn", num_classes=3, **SMALL).eval()
    out = model(torch.randn(2, 3, 64))
    assert FeatureDims.of_model(model) == FeatureDims.of_output(out)
    s, t = aligned_sequences(out.maps["block3"], torch.randn(2, 32, 10, 20))
    assert s.shape == (2, 16, 10) and t.shape == (2, 32, 10)


def test_short_input_and_custom_pool():
    model = build_model("temporal_cnn", num_classes=3, channels=[4, 4], pool=[4, 1])
    out = model(torch.randn(2, 3, 1))
    assert out.maps["block2"].shape == (2, 4, 1)
    out = model.eval()(torch.randn(2, 3, 32))
    assert out.maps["block1"].shape == (2, 4, 8)


def test_wrong_input_shape_is_clear():
    model = build_model("temporal_cnn", num_classes=3, **SMALL)
    with pytest.raises(ValueError, match=r"\(B, 3, L\)"):
        model(torch.randn(2, 6, 64))


def test_standardisation_is_inside_forward():
    """With stats (m, s), raw x gives what identity stats give on (x - m) / s."""
    a = build_model("temporal_cnn", num_classes=3, **SMALL).eval()
    b = build_model("temporal_cnn", num_classes=3, **SMALL).eval()
    b.load_state_dict(a.state_dict())
    assert not a.has_input_stats
    mean, std = np.array([0.1, -0.9, 0.3]), np.array([0.5, 0.2, 0.8])
    a.set_input_stats(mean, std)
    assert a.has_input_stats
    x = torch.randn(5, 3, 64) * 0.4 - 0.5
    z = (x - torch.tensor(mean, dtype=torch.float32).view(1, 3, 1)) / torch.tensor(
        std, dtype=torch.float32).view(1, 3, 1)
    torch.testing.assert_close(a(x).logits, b(z).logits, rtol=1e-5, atol=1e-5)
    # buffers: the stats travel with the state_dict (checkpoints, ONNX export)
    c = build_model("temporal_cnn", num_classes=3, **SMALL)
    c.load_state_dict(a.state_dict())
    torch.testing.assert_close(c.input_std, torch.tensor(std, dtype=torch.float32))


@pytest.mark.parametrize(("mean", "std"), [([0, 0], [1, 1]), ([0, 0, 0], [1, 0, 1]),
                                           ([0, float("nan"), 0], [1, 1, 1])])
def test_bad_input_stats(mean, std):
    model = build_model("temporal_cnn", num_classes=3, **SMALL)
    with pytest.raises(ValueError, match="temporal_cnn"):
        model.set_input_stats(mean, std)


def test_input_stats_per_channel_with_floor():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(1.0, 2.0, (50, 40)), rng.normal(-3.0, 0.5, (50, 40)),
                  np.zeros((50, 40))], axis=1)
    mean, std = input_stats(x)
    assert mean.shape == std.shape == (3,)
    np.testing.assert_allclose(mean, [1.0, -3.0, 0.0], atol=0.1)
    np.testing.assert_allclose(std[:2], [2.0, 0.5], rtol=0.05)
    assert std[2] == pytest.approx(1e-3)  # a constant channel is floored, not 0
    with pytest.raises(ValueError):
        input_stats(np.zeros((3, 64)))


def test_separable_is_smaller():
    def n_params(**kw: object) -> int:
        return sum(p.numel() for p in build_model("temporal_cnn", num_classes=5, **kw)
                   .parameters())

    cfg = {"channels": [32, 64, 64], "kernel_size": 7}
    assert n_params(**cfg, separable=True) < 0.4 * n_params(**cfg)
    out = build_model("temporal_cnn", num_classes=5, separable=True, **cfg)(torch.randn(2, 3, 64))
    assert out.logits.shape == (2, 5)


@pytest.mark.parametrize("kw", [{"kernel_size": 4}, {"channels": []}, {"pool": [2]},
                                {"dropout": 1.0}, {"in_channels": 0}, {"embedding_dim": 0}])
def test_bad_config(kw: dict):
    with pytest.raises(ConfigError, match="temporal_cnn"):
        build_model("temporal_cnn", num_classes=3, **{**SMALL, **kw})


def test_reference_sizes():
    """The two configurations the issue reports (~27 k and ~1.3 M parameters, 27 classes)."""
    small = build_model("temporal_cnn", num_classes=27, channels=[16, 32, 32, 40, 40],
                        embedding_dim=64)
    large = build_model("temporal_cnn", num_classes=27, channels=[64, 128, 256, 256, 512],
                        embedding_dim=256)
    assert 25_000 < sum(p.numel() for p in small.parameters()) < 30_000
    assert 1_200_000 < sum(p.numel() for p in large.parameters()) < 1_400_000


RESIDUAL = {"channels": [8, 16, 16], "kernel_size": 5, "embedding_dim": 12, "convs_per_block": 3,
            "residual": True}


def test_residual_shapes_maps_and_gradients():
    model = build_model("temporal_cnn", num_classes=5, **RESIDUAL)
    out = model(torch.randn(4, 3, 64))
    assert out.logits.shape == (4, 5)
    assert {k: v.shape for k, v in out.maps.items()} == {
        "block1": (4, 8, 32), "block2": (4, 16, 16), "block3": (4, 16, 16)}
    assert FeatureDims.of_model(model) == FeatureDims.of_output(out)
    (out.logits.sum() + out.embedding.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
    # 3 convs per block; a 1x1 shortcut only where the width changes (3->8, 8->16)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert sorted(m.kernel_size[0] for m in convs) == [1, 1] + [5] * 9


def test_residual_block_adds_its_input():
    """With the body's last BN zeroed, a block is relu(shortcut(x)) pooled: the shortcut is
    really summed in (identity where the width is kept)."""
    model = build_model("temporal_cnn", num_classes=3, **RESIDUAL).eval()
    for block in model.blocks:
        last_bn = [m for m in block.body if isinstance(m, torch.nn.BatchNorm1d)][-1]
        torch.nn.init.zeros_(last_bn.weight)
        torch.nn.init.zeros_(last_bn.bias)
    x = torch.randn(2, 16, 16)
    torch.testing.assert_close(model.blocks[2](x), torch.relu(x))  # 16 -> 16, no pool
    x8 = torch.randn(2, 8, 32)
    expected = torch.nn.functional.max_pool1d(torch.relu(model.blocks[1].shortcut(x8)), 2)
    torch.testing.assert_close(model.blocks[1](x8), expected)


def test_plain_blocks_keep_their_state_dict_keys():
    """Models trained before `residual` existed still load: plain blocks are unchanged."""
    model = build_model("temporal_cnn", num_classes=3, channels=[4, 6], convs_per_block=2)
    keys = [k for k in model.state_dict() if k.startswith("blocks.0.")]
    assert keys[:2] == ["blocks.0.0.weight", "blocks.0.1.weight"]
    assert "blocks.0.3.weight" in keys  # the second conv of the block
    one = build_model("temporal_cnn", num_classes=3, channels=[4, 6])
    assert [k for k in one.state_dict() if k.startswith("blocks.1.")][0] == "blocks.1.0.weight"


@pytest.mark.parametrize(("channels", "convs", "expected"), [
    ([32, 64, 128, 128, 256], 2, 933_787), ([64, 128, 128], 3, 543_131)])
def test_residual_reference_sizes_fit_the_budget(channels: list, convs: int, expected: int):
    """The residual candidates of BENCHMARKS.md (27 classes, fc0 256): under 1/10 of the
    GAF ResNet18's 11,310,410 parameters."""
    model = build_model("temporal_cnn", num_classes=27, channels=channels,
                        convs_per_block=convs, residual=True, embedding_dim=256)
    n = sum(p.numel() for p in model.parameters())
    assert n == expected and n < 11_310_410 / 10


def test_convs_per_block_must_be_positive():
    with pytest.raises(ConfigError, match="convs_per_block"):
        build_model("temporal_cnn", num_classes=3, **{**RESIDUAL, "convs_per_block": 0})
