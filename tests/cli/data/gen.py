#!/usr/bin/python3
"""Generates the small models and arrays tests/cli/*.sh feed to ebmc and ebm.

Run from anywhere with Debian's python (onnx 1.12, numpy):

    /usr/bin/python3 tests/cli/data/gen.py

The outputs are committed, so the CLI tests never need python.  Every file is
deterministic (fixed seeds, fixed producer), so regenerating gives the same
bytes.  Each bad model breaks exactly one thing and names it distinctively
(node names, tensor names) so the tests can grep the error message for it.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 13
PRODUCER = "ebmc tests/cli/data/gen.py"


def save_model(name, nodes, inputs, outputs, initializers=(), metadata=None, check=True):
    graph = helper.make_graph(nodes, name.replace(".onnx", ""), inputs, outputs,
                              initializer=list(initializers))
    model = helper.make_model(graph, producer_name=PRODUCER,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 7
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    if check:
        onnx.checker.check_model(model, full_check=True)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(model.SerializeToString())


def tensor_in(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def good_model(rng):
    """x [N,3,8,8] -> Flatten -> Gemm(192 -> 1): E = w . vec(x) + b."""
    w = numpy_helper.from_array(rng.uniform(-0.1, 0.1, (1, 192)).astype(np.float32), "fc.weight")
    b = numpy_helper.from_array(np.array([0.25], np.float32), "fc.bias")
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], name="flatten", axis=1),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="fc",
                              transB=1)]
    save_model("good.onnx", nodes, [tensor_in("x", ["N", 3, 8, 8])], [tensor_in("y", ["N", 1])],
               [w, b], metadata={"ebm.energy_head": "output", "note": "cli test model"})
    save_model("bad_head_meta.onnx", nodes, [tensor_in("x", ["N", 3, 8, 8])],
               [tensor_in("y", ["N", 1])], [w, b], metadata={"ebm.energy_head": "bogus_head"})


def unsupported_op_model():
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="relu1"),
             helper.make_node("Hardmax", ["h"], ["y"], name="weird_hardmax", axis=-1)]
    save_model("unsupported_op.onnx", nodes, [tensor_in("x", ["N", 4])],
               [tensor_in("y", ["N", 4])])


def dangling_input_model():
    # relu2 reads a tensor nothing produces (the checker would reject it).
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="relu1"),
             helper.make_node("Add", ["h", "ghost_tensor"], ["y"], name="add_ghost")]
    save_model("dangling_input.onnx", nodes, [tensor_in("x", ["N", 4])],
               [tensor_in("y", ["N", 4])], check=False)


def missing_initializer_model():
    # Gemm names a weight that is neither an initializer nor a graph input.
    b = numpy_helper.from_array(np.zeros(1, np.float32), "fc.bias")
    nodes = [helper.make_node("Gemm", ["x", "fc.missing_weight", "fc.bias"], ["y"], name="fc",
                              transB=1)]
    save_model("missing_initializer.onnx", nodes, [tensor_in("x", ["N", 4])],
               [tensor_in("y", ["N", 1])], [b], check=False)


def nan_model():
    """x [N,2] -> Log -> MatMul [2,1]: E = log x0 + log x1, NaN/-Inf for x <= 0."""
    w = numpy_helper.from_array(np.ones((2, 1), np.float32), "w")
    nodes = [helper.make_node("Log", ["x"], ["lx"], name="log"),
             helper.make_node("MatMul", ["lx", "w"], ["y"], name="sum")]
    save_model("nan.onnx", nodes, [tensor_in("x", ["N", 2])], [tensor_in("y", ["N", 1])], [w])
    # Row 0 is finite (log 1 + log 2), row 1 NaN (log -1), row 2 -Inf (log 0).
    np.save(os.path.join(HERE, "nan_input.npy"),
            np.array([[1, 2], [-1, 1], [0, 1]], np.float32))


def logits_model():
    """x [N,4] -> MatMul [4,3]: three values per sample, so head `output` must refuse it."""
    w = numpy_helper.from_array(np.eye(4, 3, dtype=np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["logits"], name="classifier")]
    save_model("logits.onnx", nodes, [tensor_in("x", ["N", 4])], [tensor_in("logits", ["N", 3])],
               [w])


def arrays(rng):
    def save(name, a):
        np.save(os.path.join(HERE, name), a)

    x = rng.uniform(-1, 1, (2, 3, 8, 8))
    save("x.npy", x.astype(np.float32))
    save("x_f64.npy", x.astype(np.float64))
    save("x_int64.npy", np.arange(2 * 3 * 8 * 8, dtype=np.int64).reshape(2, 3, 8, 8))
    save("x_wrong_shape.npy", x[:, :, :, :4].astype(np.float32).copy())
    save("x_n0.npy", np.zeros((0, 3, 8, 8), np.float32))
    with open(os.path.join(HERE, "random.bin"), "wb") as f:
        f.write(rng.integers(0, 256, 1024, dtype=np.uint8).tobytes())


def relu_model():
    """x [N,2] -> Relu -> MatMul [2,1]: E = relu(x0) + relu(x1).  Relu maps NaN to a
    number in some implementations, so NaN inputs must be refused before they run."""
    w = numpy_helper.from_array(np.ones((2, 1), np.float32), "w")
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="relu"),
             helper.make_node("MatMul", ["h", "w"], ["y"], name="sum")]
    save_model("relu.onnx", nodes, [tensor_in("x", ["N", 2])], [tensor_in("y", ["N", 1])], [w])
    # The first non-finite value is element 3 ([1, 1]) in both.
    np.save(os.path.join(HERE, "relu_nan_input.npy"),
            np.array([[1, 2], [3, np.nan], [np.nan, 1]], np.float32))
    np.save(os.path.join(HERE, "relu_inf_input.npy"),
            np.array([[1, 2], [3, -np.inf], [0, 1]], np.float32))


def escape_model():
    """good.onnx with terminal control sequences in its metadata: an erase-screen and
    title-setting ESC sequence, a BEL, and a C1 CSI (U+009B) next to a plain 'é'."""
    w = numpy_helper.from_array(np.zeros((1, 192), np.float32), "fc.weight")
    b = numpy_helper.from_array(np.array([0.25], np.float32), "fc.bias")
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], name="flatten", axis=1),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="fc",
                              transB=1)]
    save_model("ansi_meta.onnx", nodes, [tensor_in("x", ["N", 3, 8, 8])], [tensor_in("y", ["N", 1])],
               [w, b], metadata={"ebm.energy_head": "\x1b[2J\x1b]0;pwned\x07evil_head",
                                 "note": "caf\u00e9 \u009b31m"})


def main():
    rng = np.random.default_rng(20240501)
    good_model(rng)
    unsupported_op_model()
    dangling_input_model()
    missing_initializer_model()
    nan_model()
    arrays(rng)
    logits_model()
    relu_model()
    escape_model()


if __name__ == "__main__":
    main()
