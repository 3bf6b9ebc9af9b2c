"""Model.sample: reproducible, the same bytes as `ebm sample` with the same
settings (flags or the model's metadata), and one Langevin step equal to
DESIGN.md's update written out with Model.grad."""
import os
import subprocess

import numpy as np
import pytest

import ebmc
from conftest import FIXTURES


def ebm_sample(ebm, model, out_dir, args):
    out = os.path.join(out_dir, "cli.npy")
    energy = os.path.join(out_dir, "cli_energy.npy")
    r = subprocess.run([ebm, "sample", model, "-o", out, "--energy", energy] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr
    return np.load(out), np.load(energy)


def test_same_seed_same_bytes():
    m = ebmc.Model(os.path.join(FIXTURES, "cnn_strided_silu", "model.onnx"))
    a = m.sample(6, seed=11, steps=20)
    b = m.sample(6, seed=11, steps=20)
    c = m.sample(6, seed=12, steps=20)
    assert a.shape == (6, 1, 12, 12) and a.dtype == np.float32
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    assert np.all(a >= -1) and np.all(a <= 1)   # the default clamp


@pytest.mark.parametrize("n, seed", [(10, 3), (130, 7)])
def test_defaults_from_metadata_match_ebm_sample(toy_model, ebm_program, tmp_path, n, seed):
    """No settings: both take the model's ebm.sampler.* metadata (steps 25,
    step 0.02, noise 0.01, clip 0.05, clamp [-3,3], T 0.5); n = 10 compiles
    with tile 5, n = 130 with ebmc's default tile."""
    m = ebmc.Model(toy_model)
    x, e = m.sample(n, seed=seed, return_energy=True)
    cx, ce = ebm_sample(ebm_program, toy_model, str(tmp_path), ["-n", str(n), "--seed", str(seed)])
    assert x.tobytes() == cx.tobytes()
    assert e.tobytes() == ce.tobytes()
    assert np.abs(x).max() > 1   # the metadata's clamp [-3, 3], not [-1, 1]


@pytest.mark.parametrize("kw, flags", [
    (dict(sampler="mala", steps=30, step_size=0.05), ["--sampler", "mala", "--steps", "30", "--step-size", "0.05"]),
    (dict(sampler="mala", steps=30, burn_in=4), ["--sampler", "mala", "--steps", "30", "--burn-in", "4"]),
    (dict(sampler="adaptive", steps=40, noise="auto"), ["--sampler", "adaptive", "--steps", "40", "--noise", "auto"]),
    (dict(steps=15, grad_clip=0, clamp="none", temperature=2.0, init="normal"),
     ["--steps", "15", "--grad-clip", "0", "--clamp", "none", "--temperature", "2", "--init", "normal"]),
    (dict(steps=12, clamp=(-2, 0.5), step_size=0.1, noise=0.2),
     ["--steps", "12", "--clamp=-2,0.5", "--step-size", "0.1", "--noise", "0.2"]),
    (dict(steps=10, anneal=4.0, denoise=0.01), ["--steps", "10", "--anneal", "4", "--denoise", "0.01"]),
    (dict(steps=12, anneal=4.0, anneal_hold=0.25, clamp="none", init="normal:2.5"),
     ["--steps", "12", "--anneal", "4", "--anneal-hold", "0.25", "--clamp", "none", "--init", "normal:2.5"]),
])
def test_settings_match_ebm_sample(toy_model, ebm_program, tmp_path, kw, flags):
    m = ebmc.Model(toy_model)
    x, e = m.sample(9, seed=5, return_energy=True, **kw)
    cx, ce = ebm_sample(ebm_program, toy_model, str(tmp_path), ["-n", "9", "--seed", "5"] + flags)
    assert x.tobytes() == cx.tobytes()
    assert e.tobytes() == ce.tobytes()


def test_bad_anneal_hold_and_init_refused(toy_model):
    m = ebmc.Model(toy_model)
    with pytest.raises(ebmc.Error, match="anneal_hold=: 1.*in \\[0, 1\\)"):
        m.sample(3, steps=5, anneal=2.0, anneal_hold=1.0)
    with pytest.raises(ebmc.Error, match="init=: 'normal:0' is not uniform, normal or normal:S"):
        m.sample(3, steps=5, init="normal:0")


def test_image_model_matches_ebm_sample(ebm_program, tmp_path):
    path = os.path.join(FIXTURES, "cnn_strided_silu", "model.onnx")
    x = ebmc.Model(path).sample(8, seed=2, steps=10)
    cx, _ = ebm_sample(ebm_program, path, str(tmp_path), ["-n", "8", "--seed", "2", "--steps", "10"])
    assert x.tobytes() == cx.tobytes()


def test_init_array_and_trajectory_match_ebm_sample(toy_model, ebm_program, tmp_path):
    m = ebmc.Model(toy_model)
    x0 = np.random.default_rng(0).uniform(-2, 2, size=(7, 2)).astype(np.float32)
    before = x0.copy()
    t = m.sample(init=x0, steps=10, trajectory=3, seed=1)
    assert np.array_equal(x0, before)   # the caller's array is not touched
    assert t.shape == (1 + 10 // 3, 7, 2)
    assert np.array_equal(t[0], x0)
    init = str(tmp_path / "init.npy")
    np.save(init, x0)
    ct, _ = ebm_sample(ebm_program, toy_model, str(tmp_path), ["--init", init, "--steps", "10", "--trajectory", "3",
                                                               "--seed", "1"])
    assert t.tobytes() == ct.tobytes()


def test_one_step_is_designs_update(toy_model):
    """x1 = clamp(x0 - alpha * clip(dE/dx, +-c) / T + sigma * eps): with sigma
    = 0 the noise drops out and the step follows from Model.grad alone."""
    m = ebmc.Model(toy_model)
    x0 = np.random.default_rng(1).uniform(-1, 1, size=(16, 2)).astype(np.float32)
    alpha, c, T = 0.5, 0.04, 0.5
    x1 = m.sample(init=x0, steps=1, step_size=alpha, noise=0, grad_clip=c, temperature=T, clamp=(-0.9, 0.9))
    g = m.grad(x0).astype(np.float64)
    want = np.clip(x0 - alpha * np.clip(g, -c, c) / T, -0.9, 0.9)
    np.testing.assert_allclose(x1, want, rtol=0, atol=1e-6)
    x1 = m.sample(init=x0, steps=1, step_size=alpha, noise=0, grad_clip=0, temperature=1, clamp="none")
    np.testing.assert_allclose(x1, x0 - alpha * g, rtol=0, atol=1e-5)


def test_sampler_stats_and_errors(toy_model):
    m = ebmc.Model(toy_model)
    x, st = m.sample(32, sampler="mala", steps=40, seed=0, return_stats=True)
    assert st["proposed"] == 32 * 20 and 0 <= st["accepted"] <= st["proposed"]   # K/2 steps after burn-in
    with pytest.raises(ebmc.Error, match="langevin, adaptive or mala"):
        m.sample(4, sampler="hmc")
    with pytest.raises(ebmc.Error, match="step_size"):
        m.sample(4, step_size=-1)
    with pytest.raises(ebmc.Error, match="clamp"):
        m.sample(4, clamp="1,-1")
    with pytest.raises(ebmc.Error, match="burn_in"):
        m.sample(4, burn_in=3)
    with pytest.raises(ebmc.Error, match="give n"):
        m.sample()


def test_progress_callback_does_not_change_the_samples(toy_model):
    m = ebmc.Model(toy_model)
    seen = []
    for sampler in ("langevin", "mala"):
        a = m.sample(12, steps=30, seed=8, sampler=sampler)
        b = m.sample(12, steps=30, seed=8, sampler=sampler, progress=seen.append)
        assert a.tobytes() == b.tobytes()
    assert seen and seen[-1]["step"] == seen[-1]["total"] == 30
    assert all(0 <= r["step"] <= 30 for r in seen) and all(np.isfinite(r["mean_energy"]) for r in seen)

    def boom(r):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        m.sample(4, steps=30, progress=boom)
