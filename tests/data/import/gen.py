#!/usr/bin/python3
"""Generates the small ONNX models used by tests/unit/test_onnx_import.c.

Run from anywhere with Debian's python (it has onnx and numpy):

    /usr/bin/python3 tests/data/import/gen.py

Each model exercises one import path.  For models whose values are checked,
NumPy computes the expected output: <name>_in.npy holds the input (batch 2,
float32) and <name>_out.npy the expected result, so the C test never relies
on numbers produced by ebmc itself.  Every valid model passes
onnx.checker.check_model; the deliberately broken ones say so below.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
N = 2          # batch used for the value files
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def const(name, value, dtype=None):
    arr = np.asarray(value, dtype=dtype)
    return helper.make_node("Constant", [], [name], name=name + "_node",
                            value=numpy_helper.from_array(arr, name))


def model(name, nodes, inputs, outputs, opset=13, inits=(), check=True, meta=None):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="gen.py", producer_version="1")
    m.ir_version = 7
    if meta:
        helper.set_model_props(m, meta)
    if check:
        onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))
    return m


def values(name, x, y):
    np.save(os.path.join(HERE, name + "_in.npy"), np.ascontiguousarray(x, dtype=np.float32))
    np.save(os.path.join(HERE, name + "_out.npy"), np.ascontiguousarray(y, dtype=np.float32))


def arange(*shape):
    return (np.arange(np.prod(shape), dtype=np.float32) * 0.5 - 3).reshape(shape)


def view_flatten():
    # PyTorch's x.view(x.size(0), -1), node for node as torch.onnx.export writes it.
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="/Shape"),
        const("zero", 0, np.int64),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="/Gather", axis=0),
        const("minus1", -1, np.int64),
        const("ax0", [0], np.int64),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"], name="/Unsqueeze"),
        const("ax0b", [0], np.int64),
        helper.make_node("Unsqueeze", ["minus1", "ax0b"], ["m1"], name="/Unsqueeze_1"),
        helper.make_node("Concat", ["n1", "m1"], ["target"], name="/Concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="/Reshape"),
    ]
    model("view_flatten", nodes, [vi("x", ["N", 2, 3, 4])], [vi("y", ["N", 24])],
          meta={"ebm.preset": "test"})
    x = arange(N, 2, 3, 4)
    values("view_flatten", x, x.reshape(N, -1))


def movement():
    # Transpose -> Slice (negative step) -> Gather (uneven indices) -> Pad (crop + pad) -> Expand
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], name="tr", perm=[0, 2, 3, 1]),     # [N,4,5,3]
        helper.make_node("Slice", ["t", "starts", "ends", "axes", "steps"], ["s"], name="sl"),  # [N,2,5,2]
        helper.make_node("Gather", ["s", "idx"], ["g"], name="ga", axis=2),            # [N,2,3,2]
        helper.make_node("Pad", ["g", "pads", "cval"], ["p"], name="pd"),              # [N,5,3,3]
        helper.make_node("Expand", ["p", "eshape"], ["y"], name="ex"),                 # [2,N,5,3,3]
    ]
    inits = [
        numpy_helper.from_array(np.array([-1, 1], np.int64), "starts"),
        numpy_helper.from_array(np.array([-1000, 100], np.int64), "ends"),
        numpy_helper.from_array(np.array([1, -1], np.int64), "axes"),
        numpy_helper.from_array(np.array([-2, 1], np.int64), "steps"),
        numpy_helper.from_array(np.array([4, 0, -1], np.int64), "idx"),
        numpy_helper.from_array(np.array([0, 1, -1, 0, 0, 2, 1, 1], np.int64), "pads"),
        numpy_helper.from_array(np.array(0.25, np.float32), "cval"),
        numpy_helper.from_array(np.array([2, 1, 1, 1, 1], np.int64), "eshape"),
    ]
    x = arange(N, 3, 4, 5)
    t = x.transpose(0, 2, 3, 1)
    s = t[:, ::-2, :, 1:]                  # [N,2,5,2]
    g = s[:, :, [4, 0, 4], :]              # [N,2,3,2]  (-1 -> 4)
    crop = g[:, :, 1:, :]                  # negative begin on axis 2
    p = np.pad(crop, [(0, 0), (1, 2), (0, 1), (0, 1)], constant_values=0.25)
    y = np.broadcast_to(p, (2,) + p.shape)
    model("movement", nodes, [vi("x", ["N", 3, 4, 5])], [vi("y", [2, "N", 5, 3, 3])], inits=inits)
    values("movement", x, y)


def squeeze_family(opset):
    # Unsqueeze/Squeeze/Flatten: axes as attributes before opset 13, inputs from 13.
    name = "squeeze_v%d" % opset
    if opset < 13:
        nodes = [
            helper.make_node("Unsqueeze", ["x"], ["u"], name="un", axes=[1, -1]),
            helper.make_node("Squeeze", ["u"], ["s"], name="sq", axes=[-1]),
        ]
        inits = []
    else:
        nodes = [
            helper.make_node("Unsqueeze", ["x", "uax"], ["u"], name="un"),
            helper.make_node("Squeeze", ["u", "sax"], ["s"], name="sq"),
        ]
        inits = [numpy_helper.from_array(np.array([1, -1], np.int64), "uax"),
                 numpy_helper.from_array(np.array([-1], np.int64), "sax")]
    nodes.append(helper.make_node("Flatten", ["s"], ["y"], name="fl", axis=1))
    x = arange(N, 3, 2)
    model(name, nodes, [vi("x", ["N", 3, 2])], [vi("y", ["N", 6])], opset=opset, inits=inits)
    values(name, x, x.reshape(N, 6))


def slice_v1():
    nodes = [helper.make_node("Slice", ["x"], ["y"], name="sl", starts=[1, 0], ends=[3, -1], axes=[1, 2])]
    x = arange(N, 4, 3)
    model("slice_v1", nodes, [vi("x", ["N", 4, 3])], [vi("y", ["N", 2, 2])], opset=9)
    values("slice_v1", x, x[:, 1:3, 0:-1])


def batch_constants():
    # ones(x.size(0), 3) via ConstantOfShape, a Constant expanded to [N,3], both
    # concatenated with x; Shape with start/end (opset 15); Identity, Dropout and
    # Cast (float -> float) pass through.
    nodes = [
        helper.make_node("Shape", ["x"], ["nvec"], name="shp", start=0, end=1),
        const("three", [3], np.int64),
        helper.make_node("Concat", ["nvec", "three"], ["n3"], name="cat_shape", axis=0),
        helper.make_node("ConstantOfShape", ["n3"], ["ones"], name="cos",
                         value=numpy_helper.from_array(np.array([1.5], np.float32))),
        helper.make_node("Constant", [], ["row"], name="row", value_floats=[1.0, 2.0, 3.0]),
        helper.make_node("Expand", ["row", "n3"], ["rows"], name="exp"),
        helper.make_node("Identity", ["x"], ["xi"], name="id"),
        helper.make_node("Dropout", ["xi"], ["xd"], name="drop"),
        helper.make_node("Cast", ["xd"], ["xc"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Concat", ["xc", "ones", "rows"], ["y"], name="cat", axis=1),
    ]
    x = arange(N, 2)
    y = np.concatenate([x, np.full((N, 3), 1.5, np.float32), np.tile([1.0, 2.0, 3.0], (N, 1))], axis=1)
    model("batch_constants", nodes, [vi("x", ["N", 2])], [vi("y", ["N", 8])], opset=15)
    values("batch_constants", x, y)


def static_fold():
    # Shape plumbing on static values only: Reshape target from an int64
    # initializer, Cast int -> float of Shape, Slice/Gather/Concat of shapes,
    # and a float initializer (a parameter) moved by Transpose: it must stay a
    # parameter of the graph, not be folded into an anonymous constant.
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    nodes = [
        helper.make_node("Shape", ["x"], ["sh"], name="shp"),                 # [N,3,2]
        helper.make_node("Slice", ["sh", "one", "big"], ["tail"], name="sl"),  # [3,2]
        helper.make_node("Cast", ["tail"], ["tailf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["x", "tgt"], ["xr"], name="rs"),          # [N,6]
        helper.make_node("Transpose", ["w"], ["wt"], name="wt"),               # [3,2]
        helper.make_node("Reshape", ["wt", "wshape"], ["y"], name="rsw"),      # [6]
    ]
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array([2 ** 62], np.int64), "big"),
        numpy_helper.from_array(np.array([0, -1], np.int64), "tgt"),
        numpy_helper.from_array(np.array([6], np.int64), "wshape"),
        numpy_helper.from_array(w, "w"),
    ]
    model("static_fold", nodes, [vi("x", ["N", 3, 2])],
          [vi("tailf", [2]), vi("xr", ["N", 6]), vi("y", [6])], inits=inits)
    np.save(os.path.join(HERE, "static_fold_y.npy"), w.T.reshape(6))


def bad_models():
    x = [vi("x", ["N", 4])]
    y = [vi("y", ["N", 4])]
    # An operator ebmc does not know, in a named node.
    model("unknown_op", [helper.make_node("FooBar", ["x"], ["y"], name="my_node")], x, y, check=False)
    # A node input nobody produces.
    model("dangling", [helper.make_node("Identity", ["ghost"], ["y"], name="uses_ghost")], x, y,
          check=False)
    # The Reshape target is declared as a graph input but its initializer is missing.
    model("missing_init", [helper.make_node("Reshape", ["x", "shape"], ["y"], name="rs")],
          x + [vi("shape", [2], I64)], [vi("y", ["N", 2, 2])])
    # (Reflect padding, once refused here, is imported since issue 16: tests/data/lowering_shape.)
    # Reshape merging N with the other dims: x.view(-1).
    m1 = numpy_helper.from_array(np.array([-1], np.int64), "m1")
    model("merge_batch", [helper.make_node("Reshape", ["x", "m1"], ["y"], name="flat_all")], x,
          [vi("y", ["M"])], inits=[m1])
    # Flatten with axis 0 on a batched input folds N into the columns.
    model("flatten_axis0", [helper.make_node("Flatten", ["x"], ["y"], name="fl0", axis=0)], x,
          [vi("y", [1, "M"])])
    # A weight stored in an external file.
    ext = numpy_helper.from_array(np.zeros(4, np.float32), "w_ext")
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    ext.external_data.add(key="location", value="weights.bin")
    model("external", [helper.make_node("Identity", ["x"], ["y"], name="id")],
          x, y, inits=[ext], check=False)
    # raw_data shorter than the dims say.
    short = numpy_helper.from_array(np.zeros(4, np.float32), "w_short")
    short.raw_data = short.raw_data[:10]
    model("bad_raw", [helper.make_node("Identity", ["x"], ["y"], name="id")], x, y, inits=[short],
          check=False)
    # Two nodes define the same value.
    model("dup_output", [helper.make_node("Identity", ["x"], ["y"], name="a"),
                         helper.make_node("Identity", ["x"], ["y"], name="b")], x, y, check=False)
    # A node from another operator domain.
    n = helper.make_node("Gelu", ["x"], ["y"], name="ms_gelu", domain="com.microsoft")
    model("custom_domain", [n], x, y, check=False)

    # What the importer computes is bounded: one tensor (ConstantOfShape of
    # [4097, 4096] > 2^24 elements) and all of them together (two [150, 4]
    # fills and their sum: 1,800 elements, refused at c2 under a limit of 1,000).
    cos1 = numpy_helper.from_array(np.array([1.0], np.float32))
    model("computed_too_big", [const("hw", [4097, 4096], np.int64),
                               helper.make_node("ConstantOfShape", ["hw"], ["big"], name="huge", value=cos1),
                               helper.make_node("ReduceMean", ["big"], ["m"], name="mean", axes=[0], keepdims=1),
                               helper.make_node("Add", ["x", "m"], ["y"], name="add")], x, y)
    model("computed_budget", [const("s", [150, 4], np.int64),
                              helper.make_node("ConstantOfShape", ["s"], ["c1"], name="c1", value=cos1),
                              helper.make_node("ConstantOfShape", ["s"], ["c2"], name="c2", value=cos1),
                              helper.make_node("Add", ["c1", "c2"], ["cs"], name="sum"),
                              helper.make_node("ReduceMean", ["cs"], ["m"], name="mean", axes=[0], keepdims=1),
                              helper.make_node("Add", ["x", "m"], ["y"], name="add")], x, y)

    ok = open(os.path.join(HERE, "view_flatten.onnx"), "rb").read()
    open(os.path.join(HERE, "truncated.onnx"), "wb").write(ok[: len(ok) // 2])
    open(os.path.join(HERE, "empty.onnx"), "wb").close()
    rng = np.random.RandomState(1234)
    open(os.path.join(HERE, "random.onnx"), "wb").write(rng.bytes(700))


def batch_views():
    # Attention as torch.onnx.export writes nn.MultiheadAttention: [T, N, E]
    # reshaped to [T, N*H, d] with N*H computed on the shape path, batched
    # matmuls over N*H, softmax, back through [T*N, E] into a Gemm.  T=3, E=4, H=2.
    rng = np.random.RandomState(16)
    w = rng.uniform(-1, 1, (4, 4)).astype(np.float32)
    b = rng.uniform(-1, 1, 4).astype(np.float32)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2], name="to_tne"),
        helper.make_node("Shape", ["t"], ["s"], name="shape"),
        const("i1", 1, np.int64), const("two", 2, np.int64), const("axes0", [0], np.int64),
        const("tdim", [3], np.int64), const("ddim", [2], np.int64), const("minus1", [-1], np.int64),
        const("edim", [4], np.int64),
        helper.make_node("Gather", ["s", "i1"], ["n"], axis=0, name="batch"),
        helper.make_node("Mul", ["n", "two"], ["nh"], name="n_times_heads"),
        helper.make_node("Unsqueeze", ["nh", "axes0"], ["nhv"], name="nh_vec"),
        helper.make_node("Concat", ["tdim", "nhv", "ddim"], ["split_shape"], axis=0, name="split_shape"),
        helper.make_node("Reshape", ["t", "split_shape"], ["heads"], name="split_heads"),
        helper.make_node("Transpose", ["heads"], ["q"], perm=[1, 0, 2], name="q"),
        helper.make_node("Transpose", ["heads"], ["kt"], perm=[1, 2, 0], name="kt"),
        helper.make_node("MatMul", ["q", "kt"], ["scores"], name="scores"),
        helper.make_node("Softmax", ["scores"], ["att"], axis=-1, name="softmax"),
        helper.make_node("MatMul", ["att", "q"], ["o"], name="weighted"),
        helper.make_node("Transpose", ["o"], ["ot"], perm=[1, 0, 2], name="back_tnhd"),
        helper.make_node("Concat", ["minus1", "edim"], ["merge_shape"], axis=0, name="merge_shape"),
        helper.make_node("Reshape", ["ot", "merge_shape"], ["rows"], name="merge_rows"),
        helper.make_node("Gemm", ["rows", "w", "b"], ["proj"], transB=1, name="out_proj"),
        helper.make_node("Shape", ["proj"], ["ps"], name="proj_shape"),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["nv"], name="n_vec"),
        helper.make_node("Concat", ["tdim", "nv", "edim"], ["tne_shape"], axis=0, name="tne_shape"),
        helper.make_node("Reshape", ["proj", "tne_shape"], ["tne"], name="unmerge"),
        helper.make_node("Transpose", ["tne"], ["y"], perm=[1, 0, 2], name="to_nte"),
    ]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    model("view_attention", nodes, [vi("x", ["N", 3, 4])], [vi("y", ["N", 3, 4])], inits=inits)
    x = arange(N, 3, 4) / 4
    t = x.transpose(1, 0, 2)
    q = t.reshape(3, N * 2, 2).transpose(1, 0, 2)
    sc = q @ q.transpose(0, 2, 1)
    att = np.exp(sc - sc.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    rows = (att @ q).transpose(1, 0, 2).reshape(-1, 4)
    y = (rows @ w.T + b).reshape(3, N, 4).transpose(1, 0, 2)
    values("view_attention", x, y)

    # The same exported with a fixed batch of 1 (no dynamic_axes): the shapes are
    # constants, N*H = 2 and T*N = 3 at N = 1; the graph runs at any N all the same.
    nodes1 = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2], name="to_tne"),
        const("split_shape", [3, 2, 2], np.int64),
        helper.make_node("Reshape", ["t", "split_shape"], ["heads"], name="split_heads"),
        helper.make_node("Transpose", ["heads"], ["q"], perm=[1, 0, 2], name="q"),
        helper.make_node("Transpose", ["heads"], ["kt"], perm=[1, 2, 0], name="kt"),
        helper.make_node("MatMul", ["q", "kt"], ["scores"], name="scores"),
        helper.make_node("Softmax", ["scores"], ["att"], axis=-1, name="softmax"),
        helper.make_node("MatMul", ["att", "q"], ["o"], name="weighted"),
        helper.make_node("Transpose", ["o"], ["ot"], perm=[1, 0, 2], name="back_tnhd"),
        const("merge_shape", [3, 4], np.int64),
        helper.make_node("Reshape", ["ot", "merge_shape"], ["rows"], name="merge_rows"),
        helper.make_node("Gemm", ["rows", "w", "b"], ["proj"], transB=1, name="out_proj"),
        const("tne_shape", [3, 1, 4], np.int64),
        helper.make_node("Reshape", ["proj", "tne_shape"], ["tne"], name="unmerge"),
        helper.make_node("Transpose", ["tne"], ["y"], perm=[1, 0, 2], name="to_nte"),
    ]
    model("view_attention_b1", nodes1, [vi("x", [1, 3, 4])], [vi("y", [1, 3, 4])], inits=inits)
    values("view_attention_b1", x, y)

    # Graphs that do mix samples: each refused, naming the node.
    x = [vi("x", ["N", 3, 4])]
    rows = [const("rows_shape", [-1, 4], np.int64),
            helper.make_node("Reshape", ["x", "rows_shape"], ["r"], name="rows")]
    model("view_mix_reduce", rows + [
        const("ax0", [0], np.int64),
        helper.make_node("ReduceSum", ["r", "ax0"], ["y"], keepdims=1, name="sum_rows")], x, [vi("y", [1, 4])])
    model("view_mix_softmax", rows + [
        helper.make_node("Softmax", ["r"], ["y"], axis=0, name="softmax_rows")], x, [vi("y", ["M", 4])])
    model("view_mix_reshape", [
        helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2], name="to_tne"),
        helper.make_node("Shape", ["x"], ["s"], name="shape"), const("i0", [0], np.int64),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0, name="batch"), const("twelve", [12], np.int64),
        helper.make_node("Concat", ["n", "twelve"], ["shape_n12"], axis=0, name="n12"),
        helper.make_node("Reshape", ["t", "shape_n12"], ["y"], name="flatten_tne")], x, [vi("y", ["N", 12])])


if __name__ == "__main__":
    view_flatten()
    movement()
    squeeze_family(11)
    squeeze_family(13)
    slice_v1()
    batch_constants()
    static_fold()
    bad_models()
    batch_views()
