"""Distillation losses: golden values, the four ACS cases, gradient flow, registry errors.

Expected numbers are computed by hand (noted inline) or by plain-Python loops written
independently of the library code, never by calling the code under test.
"""

from __future__ import annotations

import math

import pytest
import torch

from crosskd.config import load_params
from crosskd.errors import ConfigError
from crosskd.losses import FeatureDims, build_loss, loss_class, loss_names
from crosskd.losses.acs import acs_weights
from crosskd.losses.shapes import match_length, resolve_pairs, to_sequence
from crosskd.models import ModelOutput, build_model
from tests.conftest import REPO

ALL_METHODS = {
    "ce", "kd", "logits", "fitnet", "at", "sp", "cc", "rkd", "dask", "acs", "acs_equal",
}


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)


# ------------------------------------------------------------------ plain-Python references
def softmax(row: list[float], t: float = 1.0) -> list[float]:
    ex = [math.exp(v / t) for v in row]
    s = sum(ex)
    return [e / s for e in ex]


def ce(row: list[float], y: int) -> float:
    return -math.log(softmax(row)[y])


def kl_t2(s_row: list[float], t_row: list[float], t: float) -> float:
    """T^2 KL(p_t || p_s) at temperature t."""
    ps, pt = softmax(s_row, t), softmax(t_row, t)
    return t * t * sum(q * math.log(q / p) for p, q in zip(ps, pt, strict=True))


def soft_ce_t2(s_row: list[float], t_row: list[float], t: float) -> float:
    """T^2 H(p_t, p_s) at temperature t."""
    ps, pt = softmax(s_row, t), softmax(t_row, t)
    return -t * t * sum(q * math.log(p) for p, q in zip(ps, pt, strict=True))


def huber(x: float) -> float:
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def dist(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def out(logits, embedding=None, maps=None, grad: bool = False) -> ModelOutput:
    lg = torch.tensor(logits, dtype=torch.float32, requires_grad=grad)
    emb = (torch.zeros(lg.shape[0], 2) if embedding is None
           else torch.tensor(embedding, dtype=torch.float32))
    emb.requires_grad_(grad)
    mp = {k: torch.tensor(v, dtype=torch.float32).requires_grad_(grad)
          for k, v in (maps or {}).items()}
    return ModelOutput(logits=lg, embedding=emb, maps=mp)


def close(a: torch.Tensor, b: float) -> None:
    assert a.item() == pytest.approx(b, rel=1e-5, abs=1e-6)


def dims(student: ModelOutput, teachers: list[ModelOutput]) -> dict:
    return {"student": FeatureDims.of_output(student),
            "teachers": [FeatureDims.of_output(t) for t in teachers]}


# ------------------------------------------------------------------ registry
def test_registry_lists_every_method():
    assert set(loss_names()) == ALL_METHODS


def test_params_yaml_configures_every_method():
    # dvc.yaml tracks distill.weights.<method> and distill.options.<method>: DVC refuses a
    # stage whose entry is missing, so every registered method needs both, and both valid.
    distill = load_params(REPO / "params.yaml")["distill"]
    assert set(distill["weights"]) == set(distill["options"]) == set(loss_names())
    for name in loss_names():
        loss = build_loss(name, distill["weights"][name], distill["options"][name])
        assert set(loss.options) == set(loss_class(name).option_defaults)


def test_unknown_method_lists_known_names():
    with pytest.raises(ConfigError, match="unknown distillation method 'akd'.*'acs'"):
        build_loss("akd", {"ce": 1.0})


def test_missing_weight_names_method_and_weight():
    with pytest.raises(ConfigError, match=r"loss 'acs': missing weight\(s\) \['mk'\]"):
        build_loss("acs", {"ce": 1.0, "kd": 1.0, "semantic": 1.0})


def test_unknown_weight_is_an_error():
    with pytest.raises(ConfigError, match=r"loss 'kd': unknown weight\(s\) \['kd_weight'\]"):
        build_loss("kd", {"ce": 1.0, "kd": 0.9, "kd_weight": 0.9})


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("kd", {"temprature": 4}, "unknown option"),
        ("kd", {"temperature": 0}, "'temperature' must be > 0"),
        ("kd", {"temperature": "4"}, "'temperature' must be float"),
        ("acs", {"selection": "best"}, "'selection' must be one of"),
        ("acs", {"adaptive": "no"}, "'adaptive' must be bool"),
        ("acs_equal", {"adaptive": True}, "unknown option"),
        ("fitnet", {"pairs": "middle"}, "'pairs' must be one of"),
        ("at", {"pairs": [["layer4"]]}, "'pairs' must be one of"),
        ("cc", {"order": 0}, "'order' must be >= 1"),
    ],
)
def test_bad_options_are_config_errors(name, options, match):
    weights = dict.fromkeys(loss_class(name).weight_names, 1.0)
    with pytest.raises(ConfigError, match=match):
        build_loss(name, weights, options)


@pytest.mark.parametrize("value", [-1.0, float("nan"), True, "1"])
def test_bad_weight_values(value):
    with pytest.raises(ConfigError, match="weight 'kd' must be a finite number >= 0"):
        build_loss("kd", {"ce": 1.0, "kd": value})


def test_pairs_naming_a_missing_map_is_a_config_error():
    s = out([[0.0, 1.0]], maps={"layer4": [[[1.0, 2.0]]]})
    t = out([[0.0, 1.0]], maps={"stage3": [[[[1.0], [2.0]]]]})
    with pytest.raises(ConfigError, match=r"pair \['layer3', 'stage3'\]"):
        build_loss("fitnet", {"ce": 1, "hint": 1}, {"pairs": [["layer3", "stage3"]]},
                   **dims(s, [t]))


# ------------------------------------------------------------------ shape helpers
def test_to_sequence_and_match_length():
    gcn = torch.arange(24.0).reshape(1, 2, 4, 3)  # (B, C, T, V)
    seq = to_sequence(gcn)
    assert seq.shape == (1, 2, 4)
    assert seq[0, 0].tolist() == [1.0, 4.0, 7.0, 10.0]  # means over the 3 joints
    one_d = torch.ones(1, 5, 7)
    assert to_sequence(one_d) is one_d
    a, b = match_length(seq, torch.zeros(1, 1, 2))
    assert a[0, 0].tolist() == [2.5, 8.5]  # (1+4)/2, (7+10)/2
    assert b.shape == (1, 1, 2)


def test_resolve_pairs_modes():
    s = ["layer1", "layer2", "layer3", "layer4"]
    t = ["stage1", "stage2", "stage3"]
    assert resolve_pairs("x", "last", s, t) == [("layer4", "stage3")]
    assert resolve_pairs("x", "aligned", s, t) == [
        ("layer2", "stage1"), ("layer3", "stage2"), ("layer4", "stage3")
    ]
    assert resolve_pairs("x", [["layer1", "stage2"]], s, t) == [("layer1", "stage2")]


# ------------------------------------------------------------------ golden values
LABELS = torch.tensor([1, 2])
S_LOGITS = [[1.0, 2.0, 0.0], [0.5, 0.0, -1.0]]
T1_LOGITS = [[2.0, 1.0, 0.0], [0.0, 1.0, 3.0]]
T2_LOGITS = [[0.0, 0.0, 0.0], [1.0, -1.0, 2.0]]


def test_ce_golden():
    res = build_loss("ce", {"ce": 0.5})(out(S_LOGITS), [], LABELS)
    expected = 0.5 * mean([ce(S_LOGITS[0], 1), ce(S_LOGITS[1], 2)])
    close(res["ce"], expected)
    close(res["total"], expected)
    assert set(res) == {"ce", "total"}


def test_kd_golden_two_teachers_equal_weights():
    res = build_loss("kd", {"ce": 1.0, "kd": 0.5}, {"temperature": 2})(
        out(S_LOGITS), [out(T1_LOGITS), out(T2_LOGITS)], LABELS
    )
    kd = mean([mean([kl_t2(s, t, 2.0) for s, t in zip(S_LOGITS, tl, strict=True)])
               for tl in (T1_LOGITS, T2_LOGITS)])
    ce_ = mean([ce(S_LOGITS[0], 1), ce(S_LOGITS[1], 2)])
    close(res["kd"], 0.5 * kd)
    close(res["total"], ce_ + 0.5 * kd)


def test_logits_golden():
    res = build_loss("logits", {"ce": 0.0, "logits": 2.0})(
        out(S_LOGITS), [out(T1_LOGITS), out(T2_LOGITS)], LABELS
    )
    mse = mean([mean([(a - b) ** 2 for rs, rt in zip(S_LOGITS, tl, strict=True)
                      for a, b in zip(rs, rt, strict=True)]) for tl in (T1_LOGITS, T2_LOGITS)])
    close(res["logits"], 2.0 * mse)
    close(res["total"], 2.0 * mse)


# Teacher map (1, 2, T=4, V=3). Means over joints: channel 0 [1, 4, 7, 10], channel 1
# [1, 2, 0, 4]; pooled to the student's length 2: [2.5, 8.5] and [1.5, 2.0].
T_MAP = [[[[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]],
          [[1, 1, 1], [2, 2, 2], [0, 0, 0], [4, 4, 4]]]]
GAF_MAP = [[[[1.0, 3.0], [5.0, 7.0]]]]  # (1, 1, 2, 2): mean over W -> [2, 6]
SEQ_MAP = [[[2.0, 6.0]]]  # the same student as a 1D map (1, 1, 2)


@pytest.mark.parametrize("student_map", [GAF_MAP, SEQ_MAP], ids=["gaf2d", "seq1d"])
def test_fitnet_golden(student_map):
    s = out([[0.0, 1.0]], maps={"layer4": student_map})
    t = out([[0.0, 1.0]], maps={"stage3": T_MAP})
    loss = build_loss("fitnet", {"ce": 0.0, "hint": 1.0}, **dims(s, [t]))
    reg = loss.regressors[0][0]
    with torch.no_grad():  # regressor: out0 = 2 s + 0.5, out1 = -s
        reg.weight.copy_(torch.tensor([[[2.0]], [[-1.0]]]))
        reg.bias.copy_(torch.tensor([0.5, 0.0]))
    res = loss(s, [t], torch.tensor([1]))
    # regressed [4.5, 12.5] vs [2.5, 8.5]; [-2, -6] vs [1.5, 2]: (4 + 16 + 12.25 + 64) / 4
    close(res["hint"], 24.0625)


def test_at_golden():
    # Student (1, 2, 2, 2): mean_c f^2 = [[1, 0], [2, 2]] -> mean over W -> [0.5, 2].
    s_map = [[[[1.0, 0.0], [2.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]]]]
    # Teacher (1, 1, 2, 3): f^2 = [[1, 1, 1], [4, 0, 0]] -> mean over V -> [1, 4/3].
    t_map = [[[[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]]]]
    s = out([[0.0, 1.0]], maps={"layer4": s_map})
    t = out([[0.0, 1.0]], maps={"stage3": t_map})
    res = build_loss("at", {"ce": 0.0, "at": 1000.0}, {"pairs": "last"})(s, [t],
                                                                       torch.tensor([0]))
    ns, nt = math.hypot(0.5, 2.0), 5.0 / 3.0
    expected = mean([(0.5 / ns - 1.0 / nt) ** 2, (2.0 / ns - (4.0 / 3.0) / nt) ** 2])
    close(res["at"], 1000.0 * expected)


def test_sp_golden():
    s_flat = [[1.0, 0.0], [1.0, 1.0]]
    t_flat = [[0.0, 1.0], [2.0, 0.0]]

    def gram_rows(f):
        g = [[sum(a * b for a, b in zip(fi, fj, strict=True)) for fj in f] for fi in f]
        return [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in g]

    gs, gt = gram_rows(s_flat), gram_rows(t_flat)
    expected = sum((gt[i][j] - gs[i][j]) ** 2 for i in range(2) for j in range(2)) / 4
    s = out([[0.0, 1.0]] * 2, maps={"layer4": [[[[v] for v in r]] for r in s_flat]})  # (2,1,2,1)
    t = out([[0.0, 1.0]] * 2, maps={"stage3": [[[[v] for v in r]] for r in t_flat]})
    res = build_loss("sp", {"ce": 0.0, "sp": 1.0})(s, [t], torch.tensor([0, 1]))
    close(res["sp"], expected)


def test_cc_golden():
    es = [[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]
    et = [[2.0, 1.0], [-1.0, 1.0], [0.5, 0.5]]
    gamma = 0.4

    def kern(e):
        f = [[v / math.sqrt(sum(x * x for x in r)) for v in r] for r in e]
        out_ = []
        for a in f:
            row = []
            for b in f:
                d = sum(x * y for x, y in zip(a, b, strict=True))
                row.append(sum(math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p)
                               * d ** p for p in range(3)))
            out_.append(row)
        return out_

    ks, kt = kern(es), kern(et)
    expected = mean([(ks[i][j] - kt[i][j]) ** 2 for i in range(3) for j in range(3)])
    res = build_loss("cc", {"ce": 0.0, "cc": 1.0})(
        out([[0.0, 1.0]] * 3, es), [out([[0.0, 1.0]] * 3, et)], torch.tensor([0, 1, 1])
    )
    close(res["cc"], expected)


ES = [[0.0, 0.0], [3.0, 0.0], [0.0, 1.0], [1.0, 2.0]]
ET = [[1.0, 1.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.5]]


def rkd_reference(es, et):
    n = len(es)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    ds = [dist(es[i], es[j]) for i, j in pairs]
    dt = [dist(et[i], et[j]) for i, j in pairs]
    ms, mt = mean(ds), mean(dt)
    l_d = mean([huber(a / ms - b / mt) for a, b in zip(ds, dt, strict=True)])

    def cos(e, i, j, k):  # angle at vertex j
        u = [a - b for a, b in zip(e[i], e[j], strict=True)]
        v = [a - b for a, b in zip(e[k], e[j], strict=True)]
        return sum(a * b for a, b in zip(u, v, strict=True)) / (
            math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v)))

    trip = [(i, j, k) for i in range(n) for j in range(n) for k in range(n)
            if len({i, j, k}) == 3]
    l_a = mean([huber(cos(es, *t) - cos(et, *t)) for t in trip])
    return l_d, l_a


def test_rkd_golden_and_student_gets_the_gradient():
    l_d, l_a = rkd_reference(ES, ET)
    s = out([[0.0, 1.0]] * 4, ES, grad=True)
    t = out([[0.0, 1.0]] * 4, ET, grad=True)
    res = build_loss("rkd", {"ce": 0.0, "distance": 25.0, "angle": 50.0})(
        s, [t], torch.tensor([0, 1, 0, 1])
    )
    close(res["distance"], 25.0 * l_d)
    close(res["angle"], 50.0 * l_a)
    res["total"].backward()
    assert s.embedding.grad is not None and s.embedding.grad.abs().sum() > 0
    assert t.embedding.grad is None  # the reference code's swap would do the opposite


def test_dask_golden_equal_widths():
    s_logits = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [2.0, -1.0]]
    t_logits = [[2.0, 0.0], [0.0, 0.5], [1.0, 0.0], [0.0, 0.0]]
    labels = [0, 1, 1, 0]
    s, t = out(s_logits, ES), out(t_logits, ET)
    w = {"ce": 1.0, "kd": 0.5, "distance": 2.0, "angle": 3.0, "semantic": 4.0}
    loss = build_loss("dask", w, **dims(s, [t]))
    assert list(loss.parameters()) == []  # equal widths: identity, nothing to learn
    res = loss(s, [t], torch.tensor(labels))
    l_d, l_a = rkd_reference(ES, ET)
    sem = mean([(a - b) ** 2 for rs, rt in zip(ES, ET, strict=True)
                for a, b in zip(rs, rt, strict=True)])
    ce_ = mean([ce(r, y) for r, y in zip(s_logits, labels, strict=True)])
    kd = mean([kl_t2(a, b, 4.0) for a, b in zip(s_logits, t_logits, strict=True)])
    expected = {"ce": ce_, "kd": 0.5 * kd, "distance": 2 * l_d, "angle": 3 * l_a,
                "semantic": 4 * sem}
    for k, v in expected.items():
        close(res[k], v)
    close(res["total"], sum(expected.values()))


# ------------------------------------------------------------------ ACS
# Three classes, label 0 everywhere, two teachers A and B. One sample per case; each
# student is less sure of the label than every right teacher, so the student gate passes.
ACS_Y = torch.tensor([0, 0, 0, 0])
ACS_S = [[0.5, 0.0, 0.2], [0.3, 0.1, 0.0], [0.0, 0.4, 0.2], [0.2, 0.2, 0.2]]
ACS_A = [[3.0, 0.0, 0.0],   # case 1: both right, A more confident
         [2.0, 0.0, 0.0],   # case 2: only A right
         [0.0, 0.0, 2.0],   # case 3: only B right
         [0.0, 2.0, 0.0]]   # case 4: both wrong
ACS_B = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]


def _acs_expected_weights() -> list[tuple[float, float, float]]:
    """(w_A, w_B, g) per case, from the formula by hand."""
    l_a, l_b = ce(ACS_A[0], 0), ce(ACS_B[0], 0)
    w_a = 1.0 - math.exp(l_a) / (math.exp(l_a) + math.exp(l_b))  # eq. 4, n = 2
    return [(w_a, 1.0 - w_a, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]


@pytest.mark.parametrize("student_gate", [True, False])
def test_acs_four_cases_weights(student_gate):
    w, g = acs_weights(torch.tensor(ACS_S), [torch.tensor(ACS_A), torch.tensor(ACS_B)], ACS_Y,
                       student_gate=student_gate)
    expected = _acs_expected_weights()
    # case 1: the more confident (A) gets the larger share; weights sum to one
    assert w[0, 0].item() == pytest.approx(expected[0][0], rel=1e-6)
    assert w[0, 0] > 0.5 > w[0, 1] > 0
    assert w[0].sum().item() == pytest.approx(1.0, abs=1e-6)
    # cases 2-4: exact zeros and ones
    assert w[1].tolist() == [1.0, 0.0]
    assert w[2].tolist() == [0.0, 1.0]
    assert w[3].tolist() == [0.0, 0.0]
    assert g.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_acs_golden_total_and_mk():
    s = out(ACS_S, [[1.0, 0.0]] * 4)
    ta, tb = out(ACS_A, [[0.0, 0.0]] * 4), out(ACS_B, [[1.0, 1.0]] * 4)
    wts = {"ce": 1.0, "kd": 0.3, "mk": 0.7, "semantic": 0.2}
    loss = build_loss("acs", wts, {"temperature": 2}, **dims(s, [ta, tb]))
    res = loss(s, [ta, tb], ACS_Y)
    mk = []
    for i, (w_a, w_b, g) in enumerate(_acs_expected_weights()):
        mk.append(w_a * soft_ce_t2(ACS_S[i], ACS_A[i], 2.0)
                  + w_b * soft_ce_t2(ACS_S[i], ACS_B[i], 2.0) + g * ce(ACS_S[i], 0))
    kd = mean([mean([kl_t2(s_, t_, 2.0) for s_, t_ in zip(ACS_S, tl, strict=True)])
               for tl in (ACS_A, ACS_B)])
    ce_ = mean([ce(r, 0) for r in ACS_S])
    sem = mean([0.5, 0.5])  # teacher A: mean((1,0)-(0,0))^2 = 0.5; teacher B: 0.5
    close(res["mk"], 0.7 * mean(mk))
    close(res["kd"], 0.3 * kd)
    close(res["semantic"], 0.2 * sem)
    close(res["total"], ce_ + 0.3 * kd + 0.7 * mean(mk) + 0.2 * sem)
    assert loss.last_fallback.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_acs_both_wrong_reduces_to_ground_truth_ce():
    s = out([ACS_S[3], ACS_S[0]], [[0.0, 0.0]] * 2)
    ta = out([ACS_A[3], [0.0, 0.0, 1.0]], [[0.0, 0.0]] * 2)
    tb = out([ACS_B[3], [0.0, 1.0, 0.0]], [[0.0, 0.0]] * 2)
    y = torch.tensor([0, 0])
    res = build_loss("acs", {"ce": 0.0, "kd": 0.0, "mk": 1.0, "semantic": 0.0},
                     **dims(s, [ta, tb]))(s, [ta, tb], y)
    close(res["mk"], mean([ce(ACS_S[3], 0), ce(ACS_S[0], 0)]))
    close(res["total"], mean([ce(ACS_S[3], 0), ce(ACS_S[0], 0)]))


def test_acs_wrong_teachers_get_zero_weight_even_when_better_than_the_student():
    # The student is badly wrong (CE ~ 5); both teachers are wrong but have lower CE.
    s = torch.tensor([[0.0, 5.0, 0.0]])
    ta, tb = torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[0.5, 0.0, 1.0]])
    assert ce([0.0, 1.0, 0.0], 0) < ce([0.0, 5.0, 0.0], 0)
    w, g = acs_weights(s, [ta, tb], torch.tensor([0]))
    assert w.tolist() == [[0.0, 0.0]] and g.tolist() == [1.0]


def test_acs_student_gate_and_hard_selection():
    # A right but less sure than the student: eq. 4 gives it weight 0 -> label fallback.
    s, t = torch.tensor([[3.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]])
    y = torch.tensor([0])
    w, g = acs_weights(s, [t], y)
    assert w.tolist() == [[0.0]] and g.tolist() == [1.0]
    w, g = acs_weights(s, [t], y, student_gate=False)
    assert w.tolist() == [[1.0]] and g.tolist() == [0.0]
    # hard selection: all weight to the more confident right teacher
    w, g = acs_weights(torch.tensor(ACS_S), [torch.tensor(ACS_A), torch.tensor(ACS_B)], ACS_Y,
                       selection="hard")
    assert w.tolist() == [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    assert g.tolist() == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("method, options", [("acs", {"adaptive": False}), ("acs_equal", {})])
def test_acs_fixed_equal_weights(method, options):
    s = out(ACS_S, [[1.0, 0.0]] * 4)
    ta, tb = out(ACS_A, [[0.0, 0.0]] * 4), out(ACS_B, [[1.0, 1.0]] * 4)
    loss = build_loss(method, {"ce": 0.0, "kd": 0.0, "mk": 1.0, "semantic": 0.0},
                      {**options, "temperature": 2.0}, **dims(s, [ta, tb]))
    res = loss(s, [ta, tb], ACS_Y)
    assert loss.last_weights.tolist() == [[0.5, 0.5]] * 4
    assert loss.last_fallback.tolist() == [0.0] * 4
    expected = mean([0.5 * soft_ce_t2(ACS_S[i], ACS_A[i], 2.0)
                     + 0.5 * soft_ce_t2(ACS_S[i], ACS_B[i], 2.0) for i in range(4)])
    close(res["mk"], expected)


# ------------------------------------------------------------------ every method, both students
B, K = 4, 5


def _leaf(*shape: int) -> torch.Tensor:
    return torch.randn(*shape).requires_grad_(True)


def gaf_student() -> ModelOutput:
    maps = {"layer1": _leaf(B, 8, 16, 16), "layer2": _leaf(B, 16, 8, 8),
            "layer3": _leaf(B, 32, 4, 4), "layer4": _leaf(B, 64, 2, 2)}
    return ModelOutput(_leaf(B, K), _leaf(B, 12), maps)


def cnn1d_student() -> ModelOutput:
    maps = {"block1": _leaf(B, 8, 32), "block2": _leaf(B, 16, 16), "block3": _leaf(B, 32, 8)}
    return ModelOutput(_leaf(B, K), _leaf(B, 12), maps)


def gcn_teacher(v: int) -> ModelOutput:
    maps = {"stage1": _leaf(B, 8, 16, v), "stage2": _leaf(B, 16, 8, v),
            "stage3": _leaf(B, 32, 4, v)}
    return ModelOutput(_leaf(B, K), _leaf(B, 10), maps)


def _leaves(o: ModelOutput) -> list[torch.Tensor]:
    return [o.logits, o.embedding, *o.maps.values()]


@pytest.mark.parametrize("student_kind", ["gaf2d", "cnn1d"])
@pytest.mark.parametrize("name", sorted(ALL_METHODS))
def test_every_method_runs_and_only_the_student_gets_gradients(name, student_kind):
    student = gaf_student() if student_kind == "gaf2d" else cnn1d_student()
    teachers = [gcn_teacher(20), gcn_teacher(21)]  # Teacher_sk, Teacher_fu (+1 IMU node)
    labels = torch.tensor([0, 1, 2, 3])
    weights = dict.fromkeys(loss_class(name).weight_names, 1.0)
    loss = build_loss(name, weights, **dims(student, teachers))
    params = list(loss.parameters())
    # Learnable parts exist before any forward (the optimizer can be built now).
    assert bool(params) == (name in {"fitnet", "dask", "acs", "acs_equal"})
    res = loss(student, teachers, labels)
    assert set(res) == {*weights, "total"}
    assert torch.isfinite(res["total"])
    res["total"].backward()
    for t in teachers:
        assert all(x.grad is None for x in _leaves(t)), "a teacher received a gradient"
    assert student.logits.grad is not None and student.logits.grad.abs().sum() > 0
    for p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0


def smoothed_ce(row: list[float], y: int, eps: float) -> float:
    """(1 - eps) * CE on the label + eps * mean CE over all classes (PyTorch's definition)."""
    logp = [math.log(p) for p in softmax(row)]
    return -(1 - eps) * logp[y] - eps * mean(logp)


@pytest.mark.parametrize("name", sorted(ALL_METHODS))
def test_label_smoothing_reaches_every_methods_ce_term(name):
    # The distilled student's hard-label term must be its baseline's (student.label_smoothing).
    def with_maps(logits, student: bool) -> ModelOutput:
        shape = (2, 4, 8) if student else (2, 4, 8, 3)  # CNN map vs GCN (C, T, V) map
        return ModelOutput(torch.tensor(logits), torch.randn(2, 6),
                           {("block1" if student else "stage1"): torch.randn(*shape)})

    student = with_maps(S_LOGITS, True)
    teachers = [with_maps(T1_LOGITS, False), with_maps(T2_LOGITS, False)]
    weights = {k: (1.0 if k == "ce" else 0.0) for k in loss_class(name).weight_names}
    loss = build_loss(name, weights, label_smoothing=0.2, **dims(student, teachers))
    res = loss(student, teachers, LABELS)
    close(res["ce"], mean([smoothed_ce(S_LOGITS[0], 1, 0.2), smoothed_ce(S_LOGITS[1], 2, 0.2)]))
    assert res["ce"].item() != pytest.approx(mean([ce(S_LOGITS[0], 1), ce(S_LOGITS[1], 2)]))


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_bad_label_smoothing_is_a_config_error(value):
    with pytest.raises(ConfigError, match="label_smoothing"):
        build_loss("kd", {"ce": 1.0, "kd": 1.0}, label_smoothing=value)


def test_bind_builds_parameters_before_the_first_forward():
    student, teachers = gaf_student(), [gcn_teacher(20), gcn_teacher(21)]
    loss = build_loss("fitnet", {"ce": 1.0, "hint": 1.0})
    with pytest.raises(RuntimeError, match="bind"):
        loss(student, teachers, torch.zeros(B, dtype=torch.long))
    loss.bind(student, teachers)
    assert len(list(loss.parameters())) == 4  # weight + bias, one regressor per teacher
    loss.bind(student, teachers)  # same shapes: no-op
    with pytest.raises(ValueError, match="already bound"):
        loss.bind(cnn1d_student(), teachers)


class _TinyCNN1d(torch.nn.Module):
    """A compact 1D-CNN student stand-in: maps (B, C, L), embedding, logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv1d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv1d(8, 16, 3, stride=2, padding=1)
        self.fc0 = torch.nn.Linear(16, 16)
        self.fc = torch.nn.Linear(16, 3)
        self.embedding_dim = 16
        self.map_channels = {"block1": 8, "block2": 16}

    def forward(self, x: torch.Tensor) -> ModelOutput:
        b1 = torch.relu(self.conv1(x))
        b2 = torch.relu(self.conv2(b1))
        emb = torch.relu(self.fc0(b2.mean(dim=2)))
        return ModelOutput(self.fc(emb), emb, {"block1": b1, "block2": b2})


@pytest.mark.parametrize("name", ["acs", "fitnet", "at"])
def test_real_teachers_get_no_gradient(name):
    """Two AGCN teachers (skeleton, skeleton + IMU node), widths from the models themselves."""
    fast = {"channels": [8, 8, 16, 16], "strides": [1, 1, 2, 1], "embedding_dim": 16}
    student = _TinyCNN1d()
    teachers = [build_model("agcn", num_classes=3, layout="kinect_v1", imu_nodes=n, **fast)
                for n in (0, 1)]
    loss = build_loss(
        name, dict.fromkeys(loss_class(name).weight_names, 1.0),
        student=FeatureDims.of_model(student),
        teachers=[FeatureDims.of_model(t) for t in teachers],
    )
    s_out = student(torch.randn(2, 3, 32))
    t_outs = [t(torch.randn(2, 3, 8, 20 + n)) for t, n in zip(teachers, (0, 1), strict=True)]
    loss(s_out, t_outs, torch.tensor([0, 2]))["total"].backward()
    assert all(p.grad is None for t in teachers for p in t.parameters())
    assert all(p.grad is not None for p in student.parameters())


@pytest.mark.parametrize("name", sorted(ALL_METHODS))
def test_every_method_trains_a_residual_temporal_cnn(name):
    """student.temporal_cnn.residual: the real model's maps feed every loss, and the
    gradient reaches every block's convolutions and shortcuts."""
    torch.manual_seed(0)
    model = build_model("temporal_cnn", num_classes=K, channels=[8, 16, 32], embedding_dim=12,
                        convs_per_block=2, residual=True)
    student = model(torch.randn(B, 3, 32))
    teachers = [gcn_teacher(20), gcn_teacher(21)]
    weights = dict.fromkeys(loss_class(name).weight_names, 1.0)
    loss = build_loss(name, weights, **dims(student, teachers))
    loss(student, teachers, torch.tensor([0, 1, 2, 3]))["total"].backward()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert len(convs) == 2 * 3 + 3  # two per block, a 1x1 shortcut at each width change
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in convs)
