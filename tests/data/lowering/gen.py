#!/usr/bin/python3
"""Generates the one-operator models tests/unit/test_lowering.c imports and runs.

Run with Debian's python (onnx 1.12, numpy, torch 1.13):

    /usr/bin/python3 tests/data/lowering/gen.py

For every case NAME it writes, next to this script:
    NAME.onnx         a model holding one ONNX operator (or a short chain)
    NAME.in<k>.npy    float32 value of graph input k
    NAME.out<k>.npy   float64 expected value of graph output k
and one line "NAME SYMBOLIC" in cases.txt (SYMBOLIC = 1: dim 0 of the inputs is
the batch size N, as ebmc imports energy networks; 0: shapes as in the file).
Models named err_* have no arrays: the test expects their import to fail (the
expected error code and message live in the test, next to the assertion).

Expected values come from NumPy (or torch for convolution and pooling) in
float64, applied to the float32 inputs and weights the model holds, following
the ONNX operator specification independently of ebmc's lowering.  Inputs put
the numerically delicate values where they matter: +-100 for the exponential
activations, +-1000 for softmax and log-sum-exp.  Everything is seeded, so
regenerating gives identical files.
"""
import math
import os

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
PRODUCER = "ebmc tests/data/lowering/gen.py"
CASES = []


def f32(a):
    return np.asarray(a, dtype=np.float32)


def f64(a):
    return np.asarray(a, dtype=np.float64)


def rand(seed, shape, lo=-1.0, hi=1.0):
    return f32(np.random.default_rng(seed).uniform(lo, hi, shape))


def a32(v):
    """An attribute value as the model stores it (AttributeProto.f is a float32)."""
    return float(np.float32(v))


def with_extremes(x, big):
    """x with its first elements replaced by +-big and 0 (the delicate points)."""
    x = x.copy()
    flat = x.reshape(-1)
    flat[:4] = [big, -big, 0.0, -0.5 * big]
    return x


def init(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def value_info(name, shape, symbolic, elem=TensorProto.FLOAT):
    dims = list(shape)
    if symbolic and dims:
        dims[0] = "N"
    return helper.make_tensor_value_info(name, elem, dims)


def write_model(name, nodes, inputs, outputs, inits=(), opset=13, symbolic=True):
    """inputs: [(name, float32 array)]; outputs: [(name, expected array or shape)]."""
    ins = [value_info(n, a.shape, symbolic) for n, a in inputs]
    outs = [value_info(n, np.shape(a), symbolic) for n, a in outputs]
    graph = helper.make_graph(nodes, name, ins, outs, initializer=list(inits))
    model = helper.make_model(graph, producer_name=PRODUCER,
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    with open(os.path.join(HERE, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def case(name, nodes, inputs, outputs, inits=(), opset=13, symbolic=True):
    write_model(name, nodes, inputs, outputs, inits, opset, symbolic)
    for k, (_, a) in enumerate(inputs):
        np.save(os.path.join(HERE, "%s.in%d.npy" % (name, k)), f32(a))
    for k, (_, a) in enumerate(outputs):
        np.save(os.path.join(HERE, "%s.out%d.npy" % (name, k)), f64(a))
    CASES.append("%s %d" % (name, 1 if symbolic else 0))


def error_case(name, nodes, inputs, outputs, inits=(), opset=13, symbolic=True):
    """A model whose import must fail: shapes only, no arrays."""
    write_model(name, nodes, [(n, np.zeros(s, np.float32)) for n, s in inputs],
                [(n, np.zeros(s)) for n, s in outputs], inits, opset, symbolic)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name=op.lower() + "_0", **attrs)


def one(name, op, x, expected, opset=13, inits=(), extra_inputs=(), symbolic=True, **attrs):
    """A model computing y = op(x, *extra_inputs) with attributes."""
    ins = ["x"] + [n for n, _ in extra_inputs] + [i.name for i in inits]
    case(name, [node(op, ins, ["y"], **attrs)], [("x", x)] + list(extra_inputs),
         [("y", expected)], inits, opset, symbolic)


def const_node(out, value, dtype=np.float32):
    return helper.make_node("Constant", [], [out], name="const_" + out,
                            value=numpy_helper.from_array(np.asarray(value, dtype=dtype)))


# ---- elementwise math --------------------------------------------------------------

def arithmetic():
    x = rand(1, (2, 3, 4))
    b = rand(2, (4,))
    one("add_bcast", "Add", x, f64(x) + f64(b), inits=[init("b", b)])
    y = rand(3, (2, 3, 1))
    case("sub_bcast", [node("Sub", ["x", "y"], ["z"])], [("x", x), ("y", y)],
         [("z", f64(x) - f64(y))])
    m = rand(4, (3, 1))
    one("mul_bcast", "Mul", x, f64(x) * f64(m), inits=[init("m", m)])
    d = rand(5, (4,), 0.5, 2.0) * np.array([1, -1, 1, -1], np.float32)
    one("div_bcast", "Div", x, f64(x) / f64(d), inits=[init("d", d)])
    # opset 6 broadcasting: B [3] lines up with A's axis 1
    b3 = rand(6, (3,))
    one("add_legacy_axis", "Add", x, f64(x) + f64(b3).reshape(1, 3, 1), opset=6,
        inits=[init("b3", b3)], broadcast=1, axis=1)
    # x.view(x.size(0) * 1, x.size(3) * x.size(1), (x.size(3) + x.size(2)) / x.size(1)):
    # int64 shape arithmetic at import time; (4 + 3) / 2 truncates to 3
    x4 = rand(7, (2, 2, 3, 4))
    g = [node("Shape", ["x"], ["s"])]
    for i in range(4):
        g.append(const_node("i%d" % i, i, np.int64))
        g.append(helper.make_node("Gather", ["s", "i%d" % i], ["d%d" % i], name="gather%d" % i, axis=0))
    g += [const_node("one", 1, np.int64),
          helper.make_node("Mul", ["d0", "one"], ["n"], name="n_times_1"),
          helper.make_node("Mul", ["d3", "d1"], ["a"], name="d3_times_d1"),
          helper.make_node("Add", ["d3", "d2"], ["b"], name="d3_plus_d2"),
          helper.make_node("Div", ["b", "d1"], ["c"], name="trunc_div"),
          const_node("ax0", [0], np.int64)]
    for v in "nac":
        g.append(helper.make_node("Unsqueeze", [v, "ax0"], [v + "1"], name="unsq_" + v))
    g += [helper.make_node("Concat", ["n1", "a1", "c1"], ["shape"], name="cat", axis=0),
          helper.make_node("Reshape", ["x", "shape"], ["y"], name="view")]
    case("shape_arith", g, [("x", x4)], [("y", f64(x4).reshape(2, 8, 3))])


def erf(a):
    return np.vectorize(math.erf)(f64(a))


def softplus(a):
    a = f64(a)
    return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))


def unary():
    x = with_extremes(rand(10, (2, 3, 4), -3, 3), 100.0)
    xs = rand(11, (2, 3, 4), -3, 3)          # no +-100 where exp would overflow float32
    pos = rand(12, (2, 3, 4), 0.1, 4.0)
    one("neg", "Neg", x, -f64(x))
    one("abs", "Abs", x, np.abs(f64(x)))
    one("sqrt", "Sqrt", pos, np.sqrt(f64(pos)))
    one("exp", "Exp", xs, np.exp(f64(xs)))
    one("log", "Log", pos, np.log(f64(pos)))
    one("erf", "Erf", x, erf(x))
    one("relu", "Relu", x, np.maximum(f64(x), 0))
    one("sigmoid", "Sigmoid", x, 1 / (1 + np.exp(-f64(x))))
    one("tanh", "Tanh", x, np.tanh(f64(x)))
    one("reciprocal", "Reciprocal", pos, 1 / f64(pos))
    one("softplus", "Softplus", x, softplus(x))
    one("softsign", "Softsign", x, f64(x) / (1 + np.abs(f64(x))))
    one("mish", "Mish", x, f64(x) * np.tanh(softplus(x)), opset=18)
    one("hardswish", "HardSwish", x, f64(x) * np.clip(f64(x) / 6 + 0.5, 0, 1), opset=14)
    one("hardsigmoid", "HardSigmoid", x, np.clip(a32(0.3) * f64(x) + a32(0.4), 0, 1), opset=6, alpha=0.3, beta=0.4)
    one("leaky_relu", "LeakyRelu", x, np.where(f64(x) > 0, f64(x), a32(0.1) * f64(x)), alpha=0.1)


def power():
    x = rand(20, (2, 3, 4), -2, 2)
    pos = rand(21, (2, 3, 4), 0.2, 3.0)
    for name, p, base in [("pow2", 2.0, x), ("pow3", 3.0, x), ("pow_half", 0.5, pos),
                          ("pow_neg", -1.5, pos)]:
        case(name, [const_node("p", p), node("Pow", ["x", "p"], ["y"])], [("x", base)],
             [("y", f64(base) ** p)])
    # the exponent as an initializer, which PyTorch's constant folding produces
    one("pow_init", "Pow", x, f64(x) ** 3, inits=[init("e", [3.0])])


def elu(a, alpha):
    a = f64(a)
    return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0)))


def activations():
    x = with_extremes(rand(30, (2, 3, 4), -3, 3), 100.0)
    one("elu", "Elu", x, elu(x, 2.0), opset=6, alpha=2.0)
    sa, sg = 1.67326319217681884765625, 1.05070102214813232421875
    one("selu", "Selu", x, sg * elu(x, sa))
    one("selu_attrs", "Selu", x, 1.5 * elu(x, 2.0), alpha=2.0, gamma=1.5)
    one("celu", "Celu", x, np.maximum(f64(x), 0) + np.minimum(0, 1.5 * np.expm1(np.minimum(f64(x), 0) / 1.5)),
        opset=12, alpha=1.5)
    one("gelu", "Gelu", x, 0.5 * f64(x) * (1 + erf(f64(x) / math.sqrt(2))), opset=20)
    xd = f64(x)
    tanh_gelu = 0.5 * xd * (1 + np.tanh(math.sqrt(2 / math.pi) * (xd + 0.044715 * xd ** 3)))
    one("gelu_tanh", "Gelu", x, tanh_gelu, opset=20, approximate="tanh")
    x4 = rand(31, (2, 3, 4, 5), -2, 2)
    slope = rand(32, (3, 1, 1), 0.05, 0.5)
    one("prelu", "PRelu", x4, np.where(f64(x4) > 0, f64(x4), f64(slope) * f64(x4)), opset=9,
        inits=[init("slope", slope)])
    # opset 6: a 1-D slope of C values is per channel
    slope_c = rand(33, (3,), 0.05, 0.5)
    one("prelu_legacy", "PRelu", x4, np.where(f64(x4) > 0, f64(x4), f64(slope_c).reshape(3, 1, 1) * f64(x4)),
        opset=6, inits=[init("slope", slope_c)])


def clip():
    x = rand(40, (2, 3, 4), -2, 2)
    one("clip6", "Clip", x, np.clip(f64(x), -0.5, 0.5), opset=6, min=-0.5, max=0.5)
    lo, hi = np.float32(-0.3), np.float32(0.4)
    for name, ins, exp in [("clip_both", ["x", "lo", "hi"], np.clip(f64(x), lo, hi)),
                           ("clip_min", ["x", "lo"], np.maximum(f64(x), lo)),
                           ("clip_max", ["x", "", "hi"], np.minimum(f64(x), hi)),
                           ("clip_none", ["x"], f64(x))]:
        case(name, [const_node("lo", lo), const_node("hi", hi), node("Clip", ins, ["y"])],
             [("x", x)], [("y", exp)])


def matrices():
    x = rand(50, (2, 4))
    w = rand(51, (3, 4))
    bias = rand(52, (3,))
    one("gemm_all", "Gemm", x, 0.5 * f64(x) @ f64(w).T + 2.0 * f64(bias),
        inits=[init("w", w), init("c", bias)], alpha=0.5, beta=2.0, transB=1)
    a = rand(53, (4, 2))
    b = rand(54, (4, 3))
    c = rand(55, (1, 3))
    one("gemm_trans_a", "Gemm", a, f64(a).T @ f64(b) + f64(c), symbolic=False,
        inits=[init("b", b), init("c", c)], transA=1)
    one("gemm_no_c", "Gemm", x, f64(x) @ f64(w).T, inits=[init("w", w)], opset=11, transB=1)
    one("gemm_legacy", "Gemm", x, f64(x) @ f64(w).T + f64(bias), opset=6,
        inits=[init("w", w), init("c", bias)], transB=1, broadcast=1)
    x3 = rand(56, (2, 3, 4))
    w45 = rand(57, (4, 5))
    one("matmul", "MatMul", x3, f64(x3) @ f64(w45), inits=[init("w", w45)])
    xb = rand(58, (2, 1, 3, 4))
    wb = rand(59, (2, 4, 5))
    one("matmul_bcast", "MatMul", xb, f64(xb) @ f64(wb), inits=[init("w", wb)])
    v = rand(60, (4,))
    one("matmul_vec_right", "MatMul", x, f64(x) @ f64(v), inits=[init("v", v)])
    w243 = rand(61, (2, 4, 3))
    one("matmul_vec_left", "MatMul", v, f64(v) @ f64(w243), symbolic=False, inits=[init("w", w243)])
    u = rand(62, (4,))
    case("matmul_dot", [node("MatMul", ["u", "v"], ["y"])], [("u", u), ("v", v)],
         [("y", f64(u) @ f64(v))], symbolic=False)


# ---- reductions and softmax -------------------------------------------------------------

def lse(a, axes, keep):
    a = f64(a)
    m = np.max(a, axis=axes, keepdims=True)
    r = m + np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True))
    return r if keep else np.squeeze(r, axis=axes)


def reduce_case(name, op, x, expected, opset, axes=None, as_input=False, **attrs):
    if axes is not None and as_input:
        case(name, [const_node("axes", axes, np.int64), node(op, ["x", "axes"], ["y"], **attrs)],
             [("x", x)], [("y", expected)], opset=opset)
    elif axes is not None:
        one(name, op, x, expected, opset=opset, axes=axes, **attrs)
    else:
        one(name, op, x, expected, opset=opset, **attrs)


def reductions():
    x = rand(70, (2, 3, 4), -2, 2)
    xd = f64(x)
    big = with_extremes(rand(71, (2, 3, 4), -3, 3), 1000.0)
    reduce_case("reduce_sum_attr", "ReduceSum", x, xd.sum(axis=1), 11, [1], keepdims=0)
    reduce_case("reduce_sum_input", "ReduceSum", x, xd.sum(axis=-1, keepdims=True), 13, [-1], True)
    # all axes, including the batch axis N: one number for the whole batch
    reduce_case("reduce_sum_all", "ReduceSum", x, xd.sum(), 13, keepdims=0)
    reduce_case("reduce_sum_noop", "ReduceSum", x, xd, 13, noop_with_empty_axes=1)
    reduce_case("reduce_mean_attr", "ReduceMean", x, xd.mean(axis=(1, 2), keepdims=True), 11, [1, 2])
    reduce_case("reduce_mean_input", "ReduceMean", x, xd.mean(axis=2), 18, [2], True, keepdims=0)
    reduce_case("reduce_max_attr", "ReduceMax", x, xd.max(axis=1, keepdims=True), 13, [1])
    reduce_case("reduce_max_input", "ReduceMax", x, xd.max(axis=(1, 2)), 18, [-2, -1], True, keepdims=0)
    reduce_case("reduce_sum_square_attr", "ReduceSumSquare", x, (xd ** 2).sum(axis=2, keepdims=True), 13, [2])
    reduce_case("reduce_sum_square_input", "ReduceSumSquare", x, (xd ** 2).sum(axis=1), 18, [1], True,
                keepdims=0)
    reduce_case("reduce_lse_attr", "ReduceLogSumExp", big, lse(big, 2, True), 13, [2])
    reduce_case("reduce_lse_input", "ReduceLogSumExp", big, lse(big, (1, 2), False), 18, [1, 2], True,
                keepdims=0)
    reduce_case("reduce_l2_attr", "ReduceL2", x, np.sqrt((xd ** 2).sum(axis=1, keepdims=True)), 13, [1])
    # noop_with_empty_axes: the elementwise part alone, sqrt(x^2) = |x|
    reduce_case("reduce_l2_noop", "ReduceL2", x, np.abs(xd), 18, noop_with_empty_axes=1)


def softmax(a, axes):
    a = f64(a)
    e = np.exp(a - a.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


def log_softmax(a, axes):
    a = f64(a)
    s = a - a.max(axis=axes, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axes, keepdims=True))


def softmaxes():
    x = with_extremes(rand(80, (2, 3, 4), -3, 3), 1000.0)
    # before opset 13: the input is a matrix [d0, d1*d2] at axis 1
    one("softmax11", "Softmax", x, softmax(x, (1, 2)), opset=11, axis=1)
    one("softmax13", "Softmax", x, softmax(x, 2))
    one("softmax13_axis1", "Softmax", x, softmax(x, 1), axis=1)
    one("log_softmax11", "LogSoftmax", x, log_softmax(x, (1, 2)), opset=11, axis=1)
    one("log_softmax13", "LogSoftmax", x, log_softmax(x, 2))


# ---- convolution and pooling (references from torch in float64) ----------------------------

def t64(a):
    return torch.from_numpy(f64(a))


def same_pads(size, k, s, d, lower):
    out = -(-size // s)
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


def conv_ref(x, w, b, stride, pads, dil=(1, 1), group=1):
    """pads: ONNX order top, left, bottom, right."""
    xp = F.pad(t64(x), (pads[1], pads[3], pads[0], pads[2]))
    y = F.conv2d(xp, t64(w), None if b is None else t64(b), stride=stride, dilation=dil, groups=group)
    return y.numpy()


def convolutions():
    x = rand(90, (2, 3, 7, 6))
    w = rand(91, (4, 3, 3, 2))
    b = rand(92, (4,))
    pads = [1, 0, 2, 1]
    one("conv", "Conv", x, conv_ref(x, w, b, (2, 1), pads), inits=[init("w", w), init("b", b)],
        pads=pads, strides=[2, 1], kernel_shape=[3, 2])
    # groups + dilation + SAME_LOWER (odd total padding: the extra row goes first)
    x2 = rand(93, (2, 4, 9, 8))
    w2 = rand(94, (6, 2, 3, 3))
    b2 = rand(95, (6,))
    ph = same_pads(9, 3, 2, 2, True)
    pw = same_pads(8, 3, 2, 1, True)
    one("conv_group_dil_same_lower", "Conv", x2,
        conv_ref(x2, w2, b2, (2, 2), [ph[0], pw[0], ph[1], pw[1]], (2, 1), 2),
        inits=[init("w", w2), init("b", b2)], group=2, dilations=[2, 1], strides=[2, 2], auto_pad="SAME_LOWER")
    w3 = rand(96, (2, 3, 2, 2))
    ph = same_pads(7, 2, 1, 1, False)
    pw = same_pads(6, 2, 1, 1, False)
    one("conv_same_upper", "Conv", x, conv_ref(x, w3, None, (1, 1), [ph[0], pw[0], ph[1], pw[1]]),
        inits=[init("w", w3)], auto_pad="SAME_UPPER")
    one("conv_valid", "Conv", x, conv_ref(x, w3, None, (1, 1), [0, 0, 0, 0]), inits=[init("w", w3)],
        auto_pad="VALID")
    wd = rand(97, (3, 1, 3, 3))
    one("conv_depthwise", "Conv", x, conv_ref(x, wd, None, (1, 1), [1, 1, 1, 1], group=3),
        inits=[init("w", wd)], group=3, pads=[1, 1, 1, 1])
    error_case("err_conv4d", [node("Conv", ["x", "w"], ["y"])], [("x", (2, 2, 4, 4, 4, 4))],
               [("y", (2, 3, 2, 2, 2, 2))], inits=[init("w", rand(99, (3, 2, 3, 3, 3, 3)))])
    error_case("err_conv3d_weight", [node("Conv", ["x", "w"], ["y"])], [("x", (2, 2, 5, 5, 5))],
               [("y", (2, 3, 3, 3, 3))], inits=[init("w", rand(99, (3, 2, 3, 3)))])
    error_case("err_conv3d_group", [node("Conv", ["x", "w"], ["y"], group=2)], [("x", (2, 3, 5, 5, 5))],
               [("y", (2, 4, 3, 3, 3))], inits=[init("w", rand(99, (4, 2, 3, 3, 3)))])


def max_pool_ref(x, k, s, pads, dil=(1, 1), ceil=False):
    xp = F.pad(t64(x), (pads[1], pads[3], pads[0], pads[2]), value=-math.inf)
    return F.max_pool2d(xp, k, s, 0, dil, ceil_mode=ceil).numpy()


def poolings():
    x = rand(100, (2, 3, 7, 6))
    one("maxpool", "MaxPool", x, max_pool_ref(x, (3, 2), (2, 1), [1, 0, 1, 1], (1, 2)), opset=12,
        kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1], dilations=[1, 2])
    x6 = rand(101, (2, 3, 6, 5))
    one("maxpool_ceil", "MaxPool", x6, F.max_pool2d(t64(x6), 3, 2, 1, ceil_mode=True).numpy(), opset=12,
        kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    ph, pw = same_pads(7, 3, 2, 1, False), same_pads(6, 3, 2, 1, False)
    one("maxpool_same_upper", "MaxPool", x, max_pool_ref(x, (3, 3), (2, 2), [ph[0], pw[0], ph[1], pw[1]]),
        opset=12, kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    for cip in (0, 1):
        ref = F.avg_pool2d(t64(x6), 3, 2, 1, ceil_mode=True, count_include_pad=bool(cip)).numpy()
        one("avgpool_ceil_cip%d" % cip, "AveragePool", x6, ref, kernel_shape=[3, 3], strides=[2, 2],
            pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=cip)
    # ONNX's averagepool_2d_ceil_last_window_starts_on_pad geometry: the third
    # window would start in the trailing padding, so there are only two
    x2 = rand(102, (2, 3, 4, 4))
    ref = F.avg_pool2d(t64(x2), 3, 3, 1, ceil_mode=True, count_include_pad=True).numpy()
    one("avgpool_last_window_on_pad", "AveragePool", x2, ref, kernel_shape=[3, 3], strides=[3, 3],
        pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1)
    # dilations (opset 19): mean over the dilated window (no padding, every cell inside)
    cols = F.unfold(t64(x6), (2, 2), dilation=(2, 1))
    ref = cols.view(2, 3, 4, -1).mean(dim=2).view(2, 3, 4, 4).numpy()
    one("avgpool_dilations", "AveragePool", x6, ref, opset=19, kernel_shape=[2, 2], dilations=[2, 1])
    one("global_avgpool", "GlobalAveragePool", x, f64(x).mean(axis=(2, 3), keepdims=True))


# ---- 3-D windows (onnx_lower_conv3d.c; references from torch's 3-D ops in float64) ----------

def pad3(x, pads, value=0.0):
    """pads in ONNX order: d, h, w begins, then d, h, w ends."""
    return F.pad(t64(x), (pads[2], pads[5], pads[1], pads[4], pads[0], pads[3]), value=value)


def volumetric():
    # grouped, strided, dilated, asymmetric pads, bias
    x = rand(110, (2, 4, 7, 6, 5))
    w = rand(111, (6, 2, 3, 2, 3))
    b = rand(112, (6,))
    pads = [1, 0, 1, 2, 1, 0]
    ref = F.conv3d(pad3(x, pads), t64(w), t64(b), stride=(2, 1, 2), dilation=(2, 1, 1), groups=2).numpy()
    one("conv3d", "Conv", x, ref, inits=[init("w", w), init("b", b)], group=2, strides=[2, 1, 2],
        dilations=[2, 1, 1], pads=pads)
    # SAME_UPPER, depth kernel 2 (odd total padding: the extra cell goes last)
    x2 = rand(113, (2, 3, 5, 6, 4))
    w2 = rand(114, (4, 3, 2, 3, 3))
    pd, ph, pw = same_pads(5, 2, 2, 1, False), same_pads(6, 3, 2, 1, False), same_pads(4, 3, 1, 1, False)
    ref = F.conv3d(pad3(x2, [pd[0], ph[0], pw[0], pd[1], ph[1], pw[1]]), t64(w2), stride=(2, 2, 1)).numpy()
    one("conv3d_same_upper", "Conv", x2, ref, inits=[init("w", w2)], strides=[2, 2, 1], auto_pad="SAME_UPPER")
    # max: asymmetric pads (padded cells never win), dilations; then ceil_mode
    mp = [1, 0, 1, 1, 1, 0]
    ref = F.max_pool3d(pad3(x, mp, -math.inf), (3, 2, 2), (2, 1, 2), 0, (1, 2, 1)).numpy()
    one("maxpool3d", "MaxPool", x, ref, opset=12, kernel_shape=[3, 2, 2], strides=[2, 1, 2], pads=mp,
        dilations=[1, 2, 1])
    x3 = rand(115, (2, 3, 6, 5, 7))
    ref = F.max_pool3d(t64(x3), 3, 2, 1, ceil_mode=True).numpy()
    one("maxpool3d_ceil", "MaxPool", x3, ref, opset=12, kernel_shape=[3, 3, 3], strides=[2, 2, 2],
        pads=[1, 1, 1, 1, 1, 1], ceil_mode=1)
    # average with and without the padding counted, ceil_mode
    for cip in (0, 1):
        ref = F.avg_pool3d(t64(x3), (3, 3, 2), 2, (1, 1, 0), ceil_mode=True, count_include_pad=bool(cip)).numpy()
        one("avgpool3d_ceil_cip%d" % cip, "AveragePool", x3, ref, kernel_shape=[3, 3, 2], strides=[2, 2, 2],
            pads=[1, 1, 0, 1, 1, 0], ceil_mode=1, count_include_pad=cip)
    one("global_avgpool3d", "GlobalAveragePool", x3, f64(x3).mean(axis=(2, 3, 4), keepdims=True))
    # transposed: groups, strides, dilations, asymmetric pads, output_padding, bias
    xt = rand(116, (2, 4, 3, 4, 3))
    wt = rand(117, (4, 3, 3, 2, 3))
    bt = rand(118, (6,))
    full = F.conv_transpose3d(t64(xt), t64(wt), None, stride=(2, 1, 2), groups=2, dilation=(1, 2, 1)).numpy()
    tp, opad = [1, 0, 0, 0, 1, 1], [1, 0, 1]
    line = np.zeros(full.shape[:2] + tuple(full.shape[2 + i] + opad[i] for i in range(3)))
    line[:, :, :full.shape[2], :full.shape[3], :full.shape[4]] = full
    ref = line[:, :, tp[0]:line.shape[2] - tp[3], tp[1]:line.shape[3] - tp[4], tp[2]:line.shape[4] - tp[5]]
    ref = ref + f64(bt).reshape(1, 6, 1, 1, 1)
    one("convtranspose3d", "ConvTranspose", xt, ref, inits=[init("w", wt), init("b", bt)], group=2,
        strides=[2, 1, 2], dilations=[1, 2, 1], pads=tp, output_padding=opad)
    # the stacked depth taps would hold 3 * 4094 * 1024 * 4096 * 4 elements per sample
    huge = lambda shape: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape, (0,) * len(shape))
    write_model("err_conv3d_too_large", [node("Conv", ["x", "w"], ["y"])], [("x", huge((2, 1024, 4096, 4096, 4)))],
                [("y", huge((2, 8, 4094, 4096, 4)))], [init("w", rand(119, (8, 1024, 3, 1, 1)))])
    # output_shape: beyond the full line (zeros) along depth, cropped along height (the
    # begin is total - total // 2 without auto_pad, as ONNX specifies), exact along width
    xo = rand(120, (2, 2, 3, 3, 2))
    wo = rand(121, (2, 3, 2, 3, 3))
    full = F.conv_transpose3d(t64(xo), t64(wo), None, stride=(2, 2, 1)).numpy()   # [2, 3, 6, 7, 4]
    want = [7, 6, 4]
    begin = [(f - w) - (f - w) // 2 for f, w in zip(full.shape[2:], want)]
    line = np.zeros(full.shape[:2] + (8, 8, 8))
    line[:, :, :6, :7, :4] = full
    ref = line[:, :, begin[0]:begin[0] + 7, begin[1]:begin[1] + 6, begin[2]:begin[2] + 4]
    one("convtranspose3d_output_shape", "ConvTranspose", xo, ref, inits=[init("w", wo)], strides=[2, 2, 1],
        output_shape=want)
    error_case("err_maxpool4d", [node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2, 2, 2])],
               [("x", (2, 2, 4, 4, 4, 4))], [("y", (2, 2, 3, 3, 3, 3))])


# ---- normalisation --------------------------------------------------------------------

def normalized(a, axes, eps):
    a = f64(a)
    m = a.mean(axis=axes, keepdims=True)
    v = ((a - m) ** 2).mean(axis=axes, keepdims=True)
    return (a - m) / np.sqrt(v + eps), m, 1 / np.sqrt(v + eps)


def channel(p, rank):
    return f64(p).reshape((1, -1) + (1,) * (rank - 2))


def batch_norms():
    x = rand(110, (2, 3, 4, 5), -2, 2)
    scale, bias = rand(111, (3,), 0.5, 1.5), rand(112, (3,))
    mean, var = rand(113, (3,)), rand(114, (3,), 0.5, 2.0)
    ref = (f64(x) - channel(mean, 4)) / np.sqrt(channel(var, 4) + a32(1e-3)) * channel(scale, 4) + channel(bias, 4)
    params = [init("scale", scale), init("bias", bias), init("mean", mean), init("var", var)]
    one("batchnorm", "BatchNormalization", x, ref, opset=15, inits=params, epsilon=1e-3)
    x3 = rand(115, (2, 3, 4), -2, 2)
    ref = (f64(x3) - channel(mean, 3)) / np.sqrt(channel(var, 3) + a32(1e-5)) * channel(scale, 3) + channel(bias, 3)
    one("batchnorm_legacy", "BatchNormalization", x3, ref, opset=6, inits=params, is_test=1, momentum=0.9,
        epsilon=1e-5)
    y = normalized(x, (2, 3), a32(1e-4))[0] * channel(scale, 4) + channel(bias, 4)
    one("instancenorm", "InstanceNormalization", x, y, inits=[init("scale", scale), init("bias", bias)],
        epsilon=1e-4)


def layer_norms():
    x = rand(120, (2, 3, 4), -2, 2) + f32(3.0)    # a large mean: the two-pass variance matters
    scale, bias = rand(121, (4,), 0.5, 1.5), rand(122, (4,))
    ref = normalized(x, 2, a32(1e-5))[0] * f64(scale) + f64(bias)
    one("layernorm", "LayerNormalization", x, ref, opset=17, inits=[init("scale", scale), init("bias", bias)])
    # what exporters emit for opset < 17: the same function, written out
    g = [node("ReduceMean", ["x"], ["m"], axes=[-1]),
         node("Sub", ["x", "m"], ["d"]),
         const_node("two", 2.0), node("Pow", ["d", "two"], ["d2"]),
         helper.make_node("ReduceMean", ["d2"], ["v"], name="var", axes=[-1]),
         const_node("eps", 1e-5), node("Add", ["v", "eps"], ["ve"]),
         node("Sqrt", ["ve"], ["sd"]), node("Div", ["d", "sd"], ["nrm"]),
         node("Mul", ["nrm", "scale"], ["sc"]), helper.make_node("Add", ["sc", "bias"], ["y"], name="shift")]
    case("layernorm_op13", g, [("x", x)], [("y", ref)], [init("scale", scale), init("bias", bias)])
    # axis 1 of [N,3,4], no B, with the Mean and InvStdDev outputs
    s34 = rand(123, (3, 4), 0.5, 1.5)
    y, m, inv = normalized(x, (1, 2), a32(1e-3))
    case("layernorm_axis1_stats",
         [node("LayerNormalization", ["x", "scale"], ["y", "mean", "inv_std"], axis=1, epsilon=1e-3)],
         [("x", x)], [("y", y * f64(s34)), ("mean", m), ("inv_std", inv)], [init("scale", s34)], opset=17)


def group_norms():
    x = rand(130, (2, 6, 3, 2), -2, 2)
    xg = normalized(f64(x).reshape(2, 3, 12), 2, a32(1e-3))[0]
    sg, bg = rand(131, (3,), 0.5, 1.5), rand(132, (3,))
    y18 = (xg * f64(sg).reshape(1, 3, 1) + f64(bg).reshape(1, 3, 1)).reshape(x.shape)
    one("groupnorm18", "GroupNormalization", x, y18, opset=18, inits=[init("scale", sg), init("bias", bg)],
        num_groups=3, epsilon=1e-3)
    sc, bc = rand(133, (6,), 0.5, 1.5), rand(134, (6,))
    y21 = xg.reshape(x.shape) * channel(sc, 4) + channel(bc, 4)
    one("groupnorm21", "GroupNormalization", x, y21, opset=21, inits=[init("scale", sc), init("bias", bc)],
        num_groups=3, epsilon=1e-3)


# ---- imports that must fail ------------------------------------------------------------

def errors():
    x = [("x", (2, 3, 4))]
    y = [("y", (2, 3, 4))]
    error_case("err_gelu_approximate", [node("Gelu", ["x"], ["y"], approximate="fast")], x, y, opset=20)
    error_case("err_elu_unknown_attr", [node("Elu", ["x"], ["y"], alpha=1.0, flavour=2)], x, y)
    error_case("err_clip_dynamic", [node("ReduceMax", ["x"], ["m"], keepdims=0), node("Clip", ["x", "m"], ["y"])],
               x, y)
    error_case("err_reduce_mean_batch", [node("ReduceMean", ["x"], ["y"], axes=[0])], x, [("y", (1, 3, 4))])
    g = [node("Shape", ["x"], ["s"]), const_node("i0", 0, np.int64),
         node("Gather", ["s", "i0"], ["n"], axis=0), const_node("two", 2, np.int64),
         helper.make_node("Mul", ["n", "two"], ["n2"], name="double_batch"),
         const_node("ax0", [0], np.int64), node("Unsqueeze", ["n2", "ax0"], ["n2v"]),
         const_node("rest", [-1], np.int64), node("Concat", ["n2v", "rest"], ["shape"], axis=0),
         node("Reshape", ["x", "shape"], ["y"])]
    error_case("err_batch_arithmetic", g, x, [("y", (4, 6))])
    x4 = [("x", (2, 3, 4, 5))]
    p3 = [init(n, np.ones(3)) for n in ("scale", "bias", "mean", "var")]
    error_case("err_batchnorm_training",
               [node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], training_mode=1)],
               x4, x4, p3, opset=15)
    error_case("err_layernorm_stash", [node("LayerNormalization", ["x", "scale"], ["y"], stash_type=11)],
               x, y, [init("scale", np.ones(4))], opset=17)
    error_case("err_groupnorm_scale", [node("GroupNormalization", ["x", "scale", "bias"], ["y"], num_groups=3)],
               [("x", (2, 6, 2, 2))], [("y", (2, 6, 2, 2))], [init("scale", np.ones(3)), init("bias", np.ones(3))],
               opset=21)
    error_case("err_gemm_c_grows", [node("Gemm", ["x", "w", "c"], ["y"])], [("x", (2, 4))], [("y", (5, 2, 3))],
               [init("w", np.ones((4, 3))), init("c", np.ones((5, 2, 3)))], symbolic=False)
    error_case("err_maxpool_indices", [node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2])], x4,
               [("y", (2, 3, 3, 4)), ("idx", (2, 3, 3, 4))], opset=12)
    error_case("err_auto_pad", [node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], auto_pad="SAME_MIDDLE")],
               x4, x4)


def main():
    for f in os.listdir(HERE):
        if f.endswith(".onnx") or f.endswith(".npy"):
            os.remove(os.path.join(HERE, f))
    arithmetic()
    unary()
    power()
    activations()
    clip()
    matrices()
    reductions()
    softmaxes()
    convolutions()
    poolings()
    volumetric()
    batch_norms()
    layer_norms()
    group_norms()
    errors()
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        f.write("# name symbolic  (written by gen.py)\n")
        f.write("\n".join(CASES) + "\n")


if __name__ == "__main__":
    main()
