"""ebmc.train: a few steps on a toy set; the log's columns against the
definitions of DESIGN.md (cd = mean E+ - mean E-, loss = cd + reg), the
progress callback, the trained model's metadata and energies."""
import os

import numpy as np
import pytest

import ebmc


def blobs(n, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[-0.5, -0.5], [0.5, 0.5]], dtype=np.float32)
    return (centers[rng.integers(0, 2, n)] + 0.05 * rng.standard_normal((n, 2))).astype(np.float32)


def test_train_a_few_steps(toy_model, tmp_path):
    out = str(tmp_path / "trained.onnx")
    seen = []
    m = ebmc.Model(toy_model)
    log = ebmc.train(m, blobs(256), out, steps=6, batch=16, mcmc_steps=5, lr=1e-3, alpha=0.01, seed=3,
                     eval_every=0, progress=seen.append)
    cols = ("step", "loss", "cd", "reg", "real_energy_mean", "fake_energy_mean", "grad_norm", "step_size", "lr")
    for c in cols:
        assert c in log and isinstance(log[c], np.ndarray) and log[c].shape == (6,), c
    np.testing.assert_array_equal(log["step"], np.arange(1, 7))
    assert [r["step"] for r in seen] == list(range(1, 7))       # progress: every row, in order
    assert seen[-1]["loss"] == log["loss"][-1]
    # DESIGN.md: cd = mean E(real) - mean E(fake); loss = cd + reg
    np.testing.assert_allclose(log["cd"], log["real_energy_mean"] - log["fake_energy_mean"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(log["loss"], log["cd"] + log["reg"], rtol=1e-6, atol=1e-7)
    assert np.all(log["reg"] >= 0) and np.all(np.isfinite(log["grad_norm"]))
    np.testing.assert_allclose(log["lr"], 1e-3)
    np.testing.assert_allclose(log["step_size"], 0.02, rtol=1e-6)   # the model's ebm.sampler.step_size
    # the trained model opens, records its recipe, and its weights changed
    t = ebmc.Model(out)
    assert t.metadata.get("ebm.train.batch") == "16"
    x = blobs(8, seed=1)
    assert not np.array_equal(t.energy(x), m.energy(x))


def test_train_from_a_path_and_toy_data(toy_model, tmp_path):
    log = ebmc.train(toy_model, "toy:8gaussians", str(tmp_path / "t.onnx"), steps=3, batch=8, mcmc_steps=3,
                     log_every=1, eval_every=0)
    assert list(log["step"]) == [1, 2, 3]


def test_train_errors(toy_model, tmp_path):
    with pytest.raises(ebmc.Error, match="shape|dims|\\[") as e:
        ebmc.train(toy_model, np.zeros((10, 3), np.float32), str(tmp_path / "t.onnx"), steps=2)
    assert "\n" not in str(e.value)
    with pytest.raises(ebmc.Error, match="--batch"):
        ebmc.train(toy_model, blobs(32), str(tmp_path / "t.onnx"), steps=2, batch=0)
    with pytest.raises(ebmc.Error, match="no such file"):
        ebmc.train(str(tmp_path / "absent.onnx"), blobs(32), str(tmp_path / "t.onnx"))
