"""Shared fixtures of the ebmc package's tests: the repository's model
fixtures (tests/fixtures/*/: model.onnx with torch's float64 energies and
scores) and small models made by `ebm init`."""
import json
import os
import subprocess

import pytest

import ebmc
from ebmc import _lib

REPO = os.environ.get("EBMC_SOURCE_DIR") or os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")


def fixture_names():
    """Every fixture, or those named in $EBMC_PY_FIXTURES (comma-separated): CTest
    runs a few of each kind, since the C tests already check every fixture and
    each one here costs a compile."""
    names = sorted(d for d in os.listdir(FIXTURES) if os.path.isfile(os.path.join(FIXTURES, d, "model.onnx")))
    only = os.environ.get("EBMC_PY_FIXTURES")
    if only:
        wanted = [n for n in only.split(",") if n]
        missing = [n for n in wanted if n not in names]
        if missing:
            raise RuntimeError("EBMC_PY_FIXTURES names fixtures that do not exist: %s" % ", ".join(missing))
        names = wanted
    return names


def fixture_meta(name):
    with open(os.path.join(FIXTURES, name, "meta.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def ebm_program():
    try:
        return _lib.find_program("ebm")
    except ebmc.Error as e:
        pytest.skip(f"the ebm program is needed: {e}")


@pytest.fixture(scope="session")
def init_model(tmp_path_factory, ebm_program):
    """init_model(name, config_dict or preset) -> path of an ONNX model written by `ebm init`."""
    made = {}

    def make(name, config=None, preset=None):
        if name in made:
            return made[name]
        d = tmp_path_factory.mktemp("models")
        out = str(d / f"{name}.onnx")
        cmd = [ebm_program, "init", "-o", out]
        if preset:
            cmd += ["--preset", preset]
        if config:
            cfg = d / f"{name}.json"
            cfg.write_text(json.dumps(config))
            cmd += ["--config", str(cfg)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        made[name] = out
        return out

    return make


# A 2-D MLP whose ebm.sampler.* metadata differs from every built-in default.
TOY_CONFIG = {"name": "pytest", "input_dim": 2, "hidden_dims": [16, 16], "activation": "silu", "energy_type": "mlp",
              "parameters": {"mcmc_steps": 25, "step_size": 0.02, "noise_scale": 0.01, "grad_clip": 0.05,
                             "clamp": [-3, 3], "temperature": 0.5}}


@pytest.fixture(scope="session")
def toy_model(init_model):
    return init_model("toy", config=TOY_CONFIG)
