"""ebmc.Model against references computed elsewhere: torch's float64 energies
and scores of tests/fixtures, finite differences, one Langevin step written
out by hand; and its failures (ebmc.Error)."""
import os

import numpy as np
import pytest

import ebmc
from ebmc import _model
from conftest import FIXTURES, fixture_meta, fixture_names

# tests/unit/test_runtime_compiled.c: TOL_F32, max |a - b| / max |b| (tu_rel_err_f32)
TOL_F32 = 1e-4


def rel_err(a, ref):
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(a.astype(np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))


def load(name, what):
    return np.load(os.path.join(FIXTURES, name, what))


_models = {}


def fixture_model(name):
    if name not in _models:
        _models[name] = ebmc.Model(os.path.join(FIXTURES, name, "model.onnx"), energy_head=fixture_meta(name)["head"])
    return _models[name]


@pytest.mark.parametrize("name", fixture_names())
def test_energy_and_score_match_torch_float64(name):
    m = fixture_model(name)
    x = load(name, "input.npy")
    assert m.input_shape == tuple(fixture_meta(name)["input_shape"])
    e = m.energy(x)
    s, e2 = m.score(x, return_energy=True)
    assert e.dtype == np.float32 and e.shape == (x.shape[0],)
    assert s.dtype == np.float32 and s.shape == x.shape
    assert rel_err(e, load(name, "energy_f64.npy")) <= TOL_F32
    assert rel_err(e2, load(name, "energy_f64.npy")) <= TOL_F32
    assert rel_err(s, load(name, "score_f64.npy")) <= TOL_F32
    g = m.grad(x)
    assert rel_err(g, -load(name, "score_f64.npy")) <= TOL_F32


def test_classifier_head_is_neg_logsumexp():
    m = ebmc.Model(os.path.join(FIXTURES, "classifier10", "model.onnx"), energy_head="neg-logsumexp")
    assert m.energy_head == "neg-logsumexp"
    x = load("classifier10", "input.npy")
    assert rel_err(m.energy(x), load("classifier10", "energy_f64.npy")) <= TOL_F32
    assert rel_err(m.score(x), load("classifier10", "score_f64.npy")) <= TOL_F32
    # the head 'sum' is another energy: sum of the logits, not -logsumexp
    s = ebmc.Model(os.path.join(FIXTURES, "classifier10", "model.onnx"), energy_head="sum")
    assert s.energy_head == "sum"
    assert rel_err(s.energy(x), load("classifier10", "energy_f64.npy")) > 1e-2


def test_score_is_minus_finite_difference_of_energy():
    m = fixture_model("mlp_silu")
    x = load("mlp_silu", "input.npy").astype(np.float64)
    s = m.score(x)
    h = 1e-2
    fd = np.zeros_like(x)
    for j in range(x.shape[1]):
        xp, xm = x.copy(), x.copy()
        xp[:, j] += h
        xm[:, j] -= h
        fd[:, j] = -(m.energy(xp).astype(np.float64) - m.energy(xm)) / (2 * h)
    assert rel_err(s, fd) <= 2e-3   # O(h^2) and float32 rounding of E / h


def test_inputs_are_not_copied_when_c_contiguous_float32():
    a = np.zeros((3, 6), dtype=np.float32)
    assert _model._as_f32(a) is a
    assert _model._as_f32(a.astype(np.float64)) is not a
    f = np.asfortranarray(np.ones((3, 6), dtype=np.float32))
    assert _model._as_f32(f).flags.c_contiguous


def test_other_layouts_and_dtypes_give_the_same_values():
    m = fixture_model("cnn_strided_silu")
    x = load("cnn_strided_silu", "input.npy")
    want_e, want_s = m.energy(x), m.score(x)
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(m.energy(x64), want_e)
    rev = np.ascontiguousarray(x[::-1])[::-1]   # a negative-stride view with the same values
    assert not rev.flags.c_contiguous
    np.testing.assert_array_equal(m.energy(rev), want_e)
    np.testing.assert_array_equal(m.score(rev), want_s)
    assert m.energy(x[:0]).shape == (0,)


def test_metadata_and_settings(toy_model):
    m = ebmc.Model(toy_model)
    assert m.input_shape == (2,)
    assert m.metadata["ebm.sampler.steps"] == "25"
    assert all(k.startswith("ebm.") for k in m.metadata)
    s = m.sampler_settings()
    assert (s["steps"], s["step_size"], s["noise"], s["grad_clip"], s["clamp"], s["temperature"]) == \
        (25, 0.02, 0.01, 0.05, (-3.0, 3.0), 0.5)
    assert m.sampler_settings(steps=7, clamp="none")["steps"] == 7
    assert m.sampler_settings(clamp="none")["clamp"] is None


# ---- failures ------------------------------------------------------------------------------

def test_missing_file_raises(tmp_path):
    with pytest.raises(ebmc.Error, match="no such file"):
        ebmc.Model(str(tmp_path / "absent.onnx"))
    assert issubclass(ebmc.Error, Exception)


def test_wrong_shape_raises():
    m = fixture_model("mlp_silu")
    with pytest.raises(ebmc.Error, match=r"shape \[5, 7\].*expected \[N, 6\]"):
        m.energy(np.zeros((5, 7), dtype=np.float32))
    with pytest.raises(ebmc.Error, match="expected"):
        m.score(np.zeros(6, dtype=np.float32))
    with pytest.raises(ebmc.Error):
        m.sample(init=np.zeros((4, 3), dtype=np.float32))


def test_damaged_model_raises_libebm_message(tmp_path):
    bad = tmp_path / "bad.so"
    bad.write_bytes(b"\x7fELF" + b"\0" * 60)
    with pytest.raises(ebmc.Error) as e:
        ebmc.Model(str(bad))
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    assert e.value.code != 0   # from libebm, with its status


def test_onnx_that_does_not_compile_raises(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ebmc.Error) as e:
        ebmc.Model(str(bad))
    assert "\n" not in str(e.value)


def test_unknown_backend_and_head_raise():
    path = os.path.join(FIXTURES, "mlp_silu", "model.onnx")
    with pytest.raises(ebmc.Error, match="'c'"):
        ebmc.Model(path, backend="llvm")
    with pytest.raises(ebmc.Error, match="neg-logsumexp"):
        ebmc.Model(path, energy_head="softmax")


def test_compiled_model_opens_directly_and_checks_its_head(tmp_path):
    import subprocess
    from ebmc import _lib
    so = str(tmp_path / "m.so")
    subprocess.run([_lib.find_program("ebmc"), os.path.join(FIXTURES, "mlp_silu", "model.onnx"), "-o", so],
                   check=True, stderr=subprocess.PIPE)
    m = ebmc.Model(so)
    x = load("mlp_silu", "input.npy")
    assert rel_err(m.energy(x), load("mlp_silu", "energy_f64.npy")) <= TOL_F32
    with pytest.raises(ebmc.Error, match="compiled with energy head 'output'"):
        ebmc.Model(so, energy_head="sum")


def test_from_torch_without_torch_raises(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torch", None)   # import torch now fails, as where it is absent
    with pytest.raises(ebmc.Error, match="needs PyTorch"):
        ebmc.from_torch(object(), None)


def test_threads_share_a_model():
    """Calls from several threads at once (ctypes releases the GIL): each gets
    a context of its own when the model's is busy; results do not change."""
    import threading
    m = fixture_model("resnet_groupnorm")
    x = load("resnet_groupnorm", "input.npy")
    want = m.energy(x)
    out, errors = [], []

    def work():
        try:
            for _ in range(5):
                out.append(m.energy(x))
        except Exception as e:   # pragma: no cover - reported below
            errors.append(e)
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert len(out) == 20 and all(np.array_equal(o, want) for o in out)


def test_closed_model_raises():
    with ebmc.Model(os.path.join(FIXTURES, "mlp_silu", "model.onnx")) as m:
        x = load("mlp_silu", "input.npy")
        m.energy(x)
    with pytest.raises(ebmc.Error, match="closed"):
        m.energy(x)
    with pytest.raises(ebmc.Error, match="closed"):
        m.sample(3)
