"""Model shapes, gradients, graph structure, registry errors and the torchvision import."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosskd.data.layouts import LAYOUTS, get_layout
from crosskd.errors import ConfigError, DataError
from crosskd.models import ModelOutput, build_model, model_names
from crosskd.models.graph import fused_num_nodes, graph_adjacency, inward_edges
from crosskd.models.tv import import_torchvision

FAST = {"channels": [8, 8, 16, 16], "strides": [1, 1, 2, 1]}
PAPER = {
    "channels": [64] * 4 + [128] * 3 + [256] * 3,
    "strides": [1] * 4 + [2] + [1] * 2 + [2, 1, 1],
}


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)


def _forward_backward(model: torch.nn.Module, x: torch.Tensor) -> ModelOutput:
    model.train()
    out = model(x)
    assert isinstance(out, ModelOutput)
    (out.logits.sum() + out.embedding.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
    return out


def test_registry_lists_all_models():
    assert {"agcn", "gaf_resnet18"} <= set(model_names())


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("imu_nodes", [0, 1, 2])
def test_agcn_forward_backward(layout: str, imu_nodes: int):
    v = fused_num_nodes(get_layout(layout), imu_nodes)
    model = build_model(
        "agcn", num_classes=5, layout=layout, imu_nodes=imu_nodes, embedding_dim=12, **FAST
    )
    out = _forward_backward(model, torch.randn(3, 3, 16, v))
    assert out.logits.shape == (3, 5)
    assert out.embedding.shape == (3, 12)
    assert list(out.maps) == ["stage1", "stage2"]
    assert out.maps["stage1"].shape == (3, 8, 16, v)
    assert out.maps["stage2"].shape == (3, 16, 8, v)
    assert model.map_channels == {"stage1": 8, "stage2": 16}


def test_agcn_embedding_defaults_to_pooled_feature():
    model = build_model("agcn", num_classes=4, layout="kinect_v1", dropout=0.5, **FAST)
    out = model(torch.randn(2, 3, 8, 20))
    assert out.embedding.shape == (2, 16)
    assert model.embedding_dim == 16


def test_agcn_learned_adjacency_gets_gradient():
    model = build_model("agcn", num_classes=4, layout="kinect_v1", imu_nodes=1, **FAST)
    out = model(torch.randn(2, 3, 8, 21))
    torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1])).backward()
    for layer in model.layers:
        b = layer.gcn.B
        assert isinstance(b, torch.nn.Parameter) and b.shape == (3, 21, 21)
        assert b.grad is not None and b.grad.abs().sum() > 0
        # A_k is a fixed buffer, not a parameter.
        assert "A" in dict(layer.gcn.named_buffers())


@pytest.mark.parametrize(
    "shape", [(2, 3, 8, 20), (2, 2, 8, 21), (2, 3, 21), (2, 3, 8, 22)], ids=str
)
def test_agcn_wrong_input_shape_is_clear(shape):
    model = build_model("agcn", num_classes=4, layout="kinect_v1", imu_nodes=1, **FAST)
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 3, T, 21\), got"):
        model(torch.randn(*shape))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channels": [8, 8], "strides": [1]},
        {"channels": [], "strides": []},
        {"channels": [8], "strides": [0]},
        {"channels": [8], "strides": [1], "layout": "no_such_layout"},
    ],
)
def test_agcn_bad_config(kwargs):
    args = {"num_classes": 3, "layout": "kinect_v1"} | kwargs
    with pytest.raises(ConfigError):
        build_model("agcn", **args)


def test_paper_size_agcn_runs():
    model = build_model("agcn", num_classes=27, layout="kinect_v1", imu_nodes=1, **PAPER)
    n_params = sum(p.numel() for p in model.parameters())
    assert 3.0e6 < n_params < 4.0e6  # 2s-AGCN (one stream) is ~3.5 M parameters
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 16, 21))
    assert out.logits.shape == (2, 27)
    assert out.embedding.shape == (2, 256)
    assert {k: tuple(v.shape) for k, v in out.maps.items()} == {
        "stage1": (2, 64, 16, 21),
        "stage2": (2, 128, 8, 21),
        "stage3": (2, 256, 4, 21),
    }


@pytest.mark.parametrize("size", [32, 64])
def test_gaf_resnet_forward_backward(size: int):
    model = build_model("gaf_resnet18", num_classes=7, embedding_dim=20)
    out = _forward_backward(model, torch.randn(2, 3, size, size))
    assert out.logits.shape == (2, 7)
    assert out.embedding.shape == (2, 20)
    assert (out.embedding >= 0).all()  # fc0 ends with ReLU
    expect = {"layer1": (64, 4), "layer2": (128, 8), "layer3": (256, 16), "layer4": (512, 32)}
    for name, (ch, down) in expect.items():
        assert out.maps[name].shape == (2, ch, size // down, size // down)


def test_gaf_resnet_wrong_channels():
    model = build_model("gaf_resnet18", num_classes=3)
    with pytest.raises(
        ValueError, match=r"expects input of shape \(B, 3, H, W\), got \(2, 1, 32, 32\)"
    ):
        model(torch.randn(2, 1, 32, 32))


def test_gaf_resnet_loads_local_weights(tmp_path):
    reference = import_torchvision().models.resnet18(num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("gaf_resnet18", num_classes=3, weights_path=str(path))
    ref = reference.state_dict()
    for key, value in model.trunk.state_dict().items():
        assert torch.equal(value, ref[key]), key
    # Single-channel input: conv1 becomes the RGB mean.
    gray = build_model("gaf_resnet18", num_classes=3, in_channels=1, weights_path=str(path))
    assert torch.allclose(gray.trunk.conv1.weight, ref["conv1.weight"].mean(1, keepdim=True))
    assert gray(torch.randn(2, 1, 32, 32)).logits.shape == (2, 3)


def test_saved_gaf_resnet_loads_without_its_initial_weights_file(tmp_path):
    """The trained model holds every weight: deleting the ImageNet file it started from must
    not break evaluate, distill or export."""
    from crosskd.training.builders import ModelSpec, load_model, save_model

    path = tmp_path / "resnet18.pth"
    torch.save(import_torchvision().models.resnet18().state_dict(), path)
    spec = ModelSpec("student_baseline", "gaf_resnet18",
                     {"num_classes": 3, "embedding_dim": 8, "weights_path": str(path)}, "gasf")
    model = spec.build()
    save_model(tmp_path / "model.pt", spec, model, {})
    path.unlink()
    back_spec, back, _ = load_model(tmp_path / "model.pt")
    assert back_spec.kwargs["weights_path"] == str(path)  # the record says how it started
    for key, value in model.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_initial_weights_are_an_input_a_checkpoint_is_resumed_against(tmp_path, monkeypatch):
    from crosskd.data.manifest import sha256_file
    from crosskd.training.builders import input_files

    monkeypatch.chdir(tmp_path)
    for f in ("data/fused/utd_mhad.h5", "data/gaf/utd_mhad.h5", "r18.pth"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_bytes(f.encode())
    params = {"data": {"dataset": "utd_mhad"}, "student": {"weights_path": "r18.pth"}}
    assert input_files(["gasf"], params)["r18.pth"] == sha256_file("r18.pth")
    assert list(input_files(["inertial"], params)) == ["data/fused/utd_mhad.h5"]
    params["student"]["weights_path"] = None
    assert "r18.pth" not in input_files(["gasf"], params)


def test_gaf_resnet_missing_weights_file(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(DataError, match=r"nope\.pth: student\.weights_path: gaf_resnet18 "
                       "weights file not found"):
        build_model("gaf_resnet18", num_classes=3, weights_path=str(missing))


def test_gaf_resnet_rejects_foreign_state_dict(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "foo": torch.zeros(1)}, path)
    with pytest.raises(DataError, match=r"other\.pth: not a ResNet18 state_dict"):
        build_model("gaf_resnet18", num_classes=3, weights_path=str(path))
    path.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match=r"other\.pth: not a readable state_dict"):
        build_model("gaf_resnet18", num_classes=3, weights_path=str(path))


def test_unknown_model_name():
    with pytest.raises(ConfigError, match=r"unknown model 'resnet50'.*agcn.*gaf_resnet18"):
        build_model("resnet50")


def test_unknown_model_argument():
    with pytest.raises(ConfigError, match="accepted arguments"):
        build_model("gaf_resnet18", num_classes=3, widht=4)


def test_import_torchvision():
    tv = import_torchvision()
    assert import_torchvision() is tv  # cached
    model = tv.models.resnet18().eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)


# ---------------------------------------------------------------- graph


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("imu_nodes", [0, 1, 2])
def test_adjacency_structure(layout: str, imu_nodes: int):
    lay = get_layout(layout)
    a = graph_adjacency(lay, imu_nodes)
    n = lay.num_joints + imu_nodes
    assert a.shape == (3, n, n) and a.dtype == np.float32
    assert n == fused_num_nodes(lay, imu_nodes)
    np.testing.assert_array_equal(a[0], np.eye(n))
    for k in (1, 2):
        sums = a[k].sum(axis=0)
        assert np.all(np.isclose(sums, 1.0) | np.isclose(sums, 0.0)), sums
    # Same edges, opposite directions (before normalisation).
    inward, outward = a[1] > 0, a[2] > 0
    np.testing.assert_array_equal(inward, outward.T)
    # Every bone appears once, in one direction, and no self links in inward/outward.
    assert inward.sum() == len(lay.bones) + imu_nodes
    assert not np.any(np.diag(inward))
    # The root is the layout centre: it has no parent, every other node exactly one (a tree).
    root = lay.index(lay.center)
    parents = inward.sum(axis=0)
    assert parents[root] == 0
    assert np.all(np.delete(parents, root) == 1)


def test_imu_nodes_link_only_to_center():
    lay = get_layout("kinect_v1")
    a = graph_adjacency(lay, imu_nodes=2)
    center = lay.index("spine")
    undirected = (a[1] + a[2]) > 0
    for imu in (20, 21):
        assert set(np.flatnonzero(undirected[imu])) == {center}
        assert set(np.flatnonzero(undirected[:, imu])) == {center}
    assert (20, center) in inward_edges(lay, 2) and (21, center) in inward_edges(lay, 2)


def test_inward_edges_point_towards_center():
    lay = get_layout("kinect_v1")
    edges = set(inward_edges(lay))
    idx = lay.index
    assert (idx("head"), idx("shoulder_center")) in edges
    assert (idx("shoulder_center"), idx("spine")) in edges
    # Written (spine, hip_center) in the layout, but spine is the root.
    assert (idx("hip_center"), idx("spine")) in edges
    assert (idx("right_hand"), idx("right_wrist")) in edges


def test_batched_gcn_matches_reference_loop():
    """The batched block equals 2s-AGCN's per-subset loop (unit_gcn.forward), term by term."""
    from crosskd.models.agcn import AdaptiveGraphConv

    adj = graph_adjacency(get_layout("kinect_v1"))
    gcn = AdaptiveGraphConv(6, 8, adj).eval()
    with torch.no_grad():
        gcn.B.normal_()
        gcn.bn.weight.fill_(1.0)
    x = torch.randn(2, 6, 5, 20)
    n, c, t, v = x.shape
    ci, k = gcn.inter_channels, 3
    a = gcn.A + gcn.B
    y = 0
    for i in range(k):
        wa = gcn.theta.weight[i * ci : (i + 1) * ci]
        ba = gcn.theta.bias[i * ci : (i + 1) * ci]
        wb = gcn.phi.weight[i * ci : (i + 1) * ci]
        bb = gcn.phi.bias[i * ci : (i + 1) * ci]
        a1 = torch.nn.functional.conv2d(x, wa, ba).permute(0, 3, 1, 2).reshape(n, v, ci * t)
        a2 = torch.nn.functional.conv2d(x, wb, bb).reshape(n, ci * t, v)
        a1 = torch.softmax(a1 @ a2 / a1.size(-1), dim=-2) + a[i]
        z = (x.reshape(n, c * t, v) @ a1).reshape(n, c, t, v)
        wd = gcn.conv.weight[:, i * c : (i + 1) * c]
        y = y + torch.nn.functional.conv2d(z, wd)
    y = y + gcn.conv.bias.view(1, -1, 1, 1)
    expected = torch.relu(gcn.bn(y) + gcn.down(x))
    torch.testing.assert_close(gcn(x), expected, rtol=1e-4, atol=1e-5)
