#!/usr/bin/python3
"""Small ONNX models for tests/unit/test_onnx_math_nn.c (issue 16, math/nn ops).

Run with Debian's python (onnx 1.12, numpy):  /usr/bin/python3 tests/data/import_math_nn/gen.py

<name>.onnx has one input "x" ([N, ...], N symbolic) and outputs y0, y1, ...;
<name>_in.npy (float64, N = 2) and <name>_y<k>.npy (float64) hold NumPy's values,
so the C test never compares ebmc with itself.  refuse_*.onnx must be refused at
import with a message naming the node.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F = TensorProto.FLOAT


def save(name, nodes, in_shape, outs, opset, inits=(), x=None, values=None):
    """outs: [(name, shape)]; values: function x -> list of expected outputs."""
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", F, ["N"] + in_shape)],
                          [helper.make_tensor_value_info(o, F, s) for o, s in outs],
                          initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="gen.py")
    m.ir_version = 8
    if opset <= 17:   # onnx 1.12's checker stops at opset 17 (axes as an input came in 18)
        onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))
    if values is not None:
        np.save(os.path.join(HERE, name + "_in.npy"), x)
        for k, y in enumerate(values(x)):
            np.save(os.path.join(HERE, "%s_y%d.npy" % (name, k)), np.ascontiguousarray(y, dtype=np.float64))


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def ints(name, v):
    return numpy_helper.from_array(np.asarray(v, dtype=np.int64), name)


rng = np.random.default_rng(16)
x34 = rng.uniform(-1, 1, (2, 3, 4)).astype(np.float32).astype(np.float64)

# Reductions, opset 13 (axes attribute) and 18 (axes input)
save("reduce13", [
    helper.make_node("ReduceMin", ["x"], ["y0"], axes=[2], keepdims=0),
    helper.make_node("ReduceL1", ["x"], ["y1"], axes=[1]),
    helper.make_node("ReduceProd", ["x"], ["y2"], axes=[1, 2], keepdims=0),
    helper.make_node("Abs", ["x"], ["a"]),
    helper.make_node("ReduceLogSum", ["a"], ["y3"], axes=[-1]),
    helper.make_node("ReduceProd", ["x"], ["y4"], axes=[2]),
], [3, 4], [("y0", ["N", 3]), ("y1", ["N", 1, 4]), ("y2", ["N"]), ("y3", ["N", 3, 1]), ("y4", ["N", 3, 1])], 13,
    x=x34, values=lambda x: [x.min(axis=2), np.abs(x).sum(axis=1, keepdims=True), x.prod(axis=(1, 2)),
                             np.log(np.abs(x).sum(axis=-1, keepdims=True)), x.prod(axis=2, keepdims=True)])

save("reduce18", [
    helper.make_node("ReduceMin", ["x", "ax1"], ["y0"]),
    helper.make_node("ReduceProd", ["x", "ax2"], ["y1"], keepdims=0),
    helper.make_node("ReduceL1", ["x", "ax12"], ["y2"], keepdims=0),
], [3, 4], [("y0", ["N", 1, 4]), ("y1", ["N", 3]), ("y2", ["N"])], 18,
    inits=[ints("ax1", [1]), ints("ax2", [-1]), ints("ax12", [1, 2])],
    x=x34, values=lambda x: [x.min(axis=1, keepdims=True), x.prod(axis=-1), np.abs(x).sum(axis=(1, 2))])

# Einsum: matmul-like, batched, outer product, implicit output, sums
w45 = rng.uniform(-1, 1, (4, 5)).astype(np.float32)
v4 = rng.uniform(-1, 1, (4,)).astype(np.float32)
save("einsum", [
    helper.make_node("Einsum", ["x", "w"], ["y0"], equation="bij,jk->bik"),
    helper.make_node("Einsum", ["x", "x"], ["y1"], equation="bij,bkj->bik"),
    helper.make_node("Einsum", ["x", "x"], ["y2"], equation="bij,bik->bjk"),
    helper.make_node("Einsum", ["x", "w"], ["y3"], equation="bij,jk"),
    helper.make_node("Einsum", ["x"], ["y4"], equation="bij->bj"),
    helper.make_node("Einsum", ["x", "v"], ["y5"], equation="bij,k->bijk"),
    helper.make_node("Einsum", ["x", "x"], ["y6"], equation="bij, bij -> b"),
    helper.make_node("Einsum", ["x", "v"], ["y7"], equation="bij,j->bi"),
], [3, 4], [("y0", ["N", 3, 5]), ("y1", ["N", 3, 3]), ("y2", ["N", 4, 4]), ("y3", ["N", 3, 5]),
            ("y4", ["N", 4]), ("y5", ["N", 3, 4, 4]), ("y6", ["N"]), ("y7", ["N", 3])], 12,
    inits=[init("w", w45), init("v", v4)], x=x34,
    values=lambda x: [np.einsum("bij,jk->bik", x, w45.astype(np.float64)), np.einsum("bij,bkj->bik", x, x),
                      np.einsum("bij,bik->bjk", x, x), np.einsum("bij,jk", x, w45.astype(np.float64)),
                      np.einsum("bij->bj", x), np.einsum("bij,k->bijk", x, v4.astype(np.float64)),
                      np.einsum("bij,bij->b", x, x), np.einsum("bij,j->bi", x, v4.astype(np.float64))])

# Pow with a per-element integer exponent (negative bases exact); trigonometry
e4 = np.array([2, 3, -1, 0], dtype=np.float32)
x4 = rng.uniform(-0.9, 0.9, (2, 4)).astype(np.float32).astype(np.float64)
save("pow_trig", [
    helper.make_node("Pow", ["x", "e"], ["y0"]),
    helper.make_node("Atan", ["x"], ["y1"]),
    helper.make_node("Asin", ["x"], ["y2"]),
    helper.make_node("Acos", ["x"], ["y3"]),
    helper.make_node("Tan", ["x"], ["y4"]),
], [4], [("y0", ["N", 4]), ("y1", ["N", 4]), ("y2", ["N", 4]), ("y3", ["N", 4]), ("y4", ["N", 4])], 13,
    inits=[init("e", e4)], x=x4,
    values=lambda x: [np.power(x, e4.astype(np.float64)), np.arctan(x), np.arcsin(x), np.arccos(x), np.tan(x)])

# ConvTranspose 1-D with output_shape and SAME_UPPER, bias
wt = rng.uniform(-1, 1, (3, 2, 3)).astype(np.float32)
bt = np.array([0.5, -0.25], dtype=np.float32)
save("convtranspose1d", [
    helper.make_node("ConvTranspose", ["x", "w", "b"], ["y0"], strides=[2], output_shape=[10]),
    helper.make_node("ConvTranspose", ["x", "w"], ["y1"], strides=[2], auto_pad="SAME_UPPER"),
], [3, 4], [("y0", ["N", 2, 10]), ("y1", ["N", 2, 8])], 13, inits=[init("w", wt), init("b", bt)], x=x34,
    values=None)


def convt1d(x, w, s, out, pb):
    n, c, l = x.shape
    k = w.shape[2]
    full = np.zeros((n, w.shape[1], s * (l - 1) + k + out))
    for i in range(l):
        for j in range(k):
            full[:, :, i * s + j] += np.einsum("nc,co->no", x[:, :, i], w[:, :, j].astype(np.float64))
    return full[:, :, pb:pb + out] if pb >= 0 else np.concatenate([np.zeros((n, w.shape[1], -pb)), full], 2)[:, :, :out]


# output_shape 10 from 9 cells: total -1, begin 0 (floor rule), extra zero at the end
np.save(os.path.join(HERE, "convtranspose1d_in.npy"), x34)
np.save(os.path.join(HERE, "convtranspose1d_y0.npy"), convt1d(x34, wt, 2, 10, 0) + bt.reshape(1, 2, 1))
# SAME_UPPER: out = 4 * 2 = 8 of 9 cells, total 1, begin 0
np.save(os.path.join(HERE, "convtranspose1d_y1.npy"), convt1d(x34, wt, 2, 8, 0))

# Refused at import, each naming the node
save("refuse_einsum_diag", [helper.make_node("Einsum", ["x"], ["y0"], equation="bii->bi", name="diag")],
     [3, 3], [("y0", ["N", 3])], 12)
save("refuse_einsum_ellipsis", [helper.make_node("Einsum", ["x", "w"], ["y0"], equation="...j,jk->...k",
                                                 name="ell")],
     [3, 4], [("y0", ["N", 3, 5])], 12, inits=[init("w", w45)])
save("refuse_einsum_batch", [helper.make_node("Einsum", ["x", "x"], ["y0"], equation="bi,bj->ij", name="mix")],
     [4], [("y0", [4, 4])], 12)
# the first operand sums N away before the product (the fuzzer's crash: the
# failed sum left its letters in place and the product looked up a missing one)
save("refuse_einsum_sum_batch", [helper.make_node("Einsum", ["x", "w"], ["y0"], equation="bj,k->jk", name="sumN")],
     [4], [("y0", [4, 5])], 12, inits=[init("w", np.arange(5))])
save("refuse_prod_batch", [helper.make_node("ReduceProd", ["x"], ["y0"], axes=[0], name="pN")],
     [4], [("y0", [1, 4])], 13)
