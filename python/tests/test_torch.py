"""ebmc.from_torch against PyTorch in float64 (skipped without torch)."""
import numpy as np
import pytest

import ebmc

torch = pytest.importorskip("torch", reason="PyTorch is not importable here: from_torch is not tested")

TOL_F32 = 1e-4   # as tests/unit/test_runtime_compiled.c


def rel_err(a, ref):
    return float(np.max(np.abs(a.astype(np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))


def torch_reference(module, x, head):
    """Energies and scores of a float64 copy of module at x."""
    import copy
    m64 = copy.deepcopy(module).double().eval()
    t = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    y = m64(t)
    if head == "neg-logsumexp":
        e = -torch.logsumexp(y, dim=-1)
    else:
        e = y.reshape(y.shape[0])
    (g,) = torch.autograd.grad(e.sum(), t)
    return e.detach().numpy(), -g.numpy()


def check(module, x, head=None):
    m = ebmc.from_torch(module, torch.from_numpy(x), energy_head=head)
    e_ref, s_ref = torch_reference(module, x, head or "output")
    assert m.input_shape == x.shape[1:]
    assert rel_err(m.energy(x), e_ref) <= TOL_F32
    assert rel_err(m.score(x), s_ref) <= TOL_F32
    return m


def test_mlp():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.SiLU(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
                              torch.nn.Linear(32, 1))
    x = np.random.default_rng(0).uniform(-1, 1, (9, 4)).astype(np.float32)
    m = check(net, x)
    a, b = m.sample(5, seed=4, steps=10), m.sample(5, seed=4, steps=10)
    assert a.tobytes() == b.tobytes()


def test_cnn_classifier_as_ebm():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, stride=2, padding=1), torch.nn.SiLU(),
                              torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 6 * 6, 10))
    x = np.random.default_rng(1).uniform(-1, 1, (6, 1, 12, 12)).astype(np.float32)
    check(net, x, head="neg-logsumexp")


def test_export_failure_raises():
    class Bad(torch.nn.Module):
        def forward(self, x):
            return torch.fft.fft(x).real.sum(dim=1)   # no ONNX export for FFT
    with pytest.raises(ebmc.Error):
        ebmc.from_torch(Bad(), torch.zeros(2, 4))
