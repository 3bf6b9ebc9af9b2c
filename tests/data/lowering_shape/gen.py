#!/usr/bin/python3
"""Generates the one-operator models tests/unit/test_lowering_shape.c imports and runs:
the shape ops of issue 16 (Split, Tile, Pad reflect/edge/wrap, DepthToSpace,
SpaceToDepth, Range, EyeLike, Equal/Where on static ints, CumSum, Resize, Upsample).

Run with Debian's python (onnx 1.12, numpy, torch 1.13):

    /usr/bin/python3 tests/data/lowering_shape/gen.py

For every case NAME it writes NAME.onnx, NAME.in<k>.npy (float32 graph inputs) and
NAME.out<k>.npy (float64 expected outputs), and a line "NAME SYMBOLIC" in cases.txt
(1: dim 0 of the inputs is the batch N).  Models named err_* have no arrays: their
import must fail (the expected message is in the test).

Expected values follow the ONNX operator specification with NumPy in float64, or
torch (F.interpolate, F.pixel_shuffle) where it computes the same function,
independently of ebmc's lowering.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []


def rand(seed, shape):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(np.float32)


def vi(name, shape, symbolic, elem=TensorProto.FLOAT):
    shape = list(shape)
    if symbolic and shape:
        shape[0] = "N"
    return helper.make_tensor_value_info(name, elem, shape)


def write(name, nodes, inputs, outputs, inits=(), opset=13, symbolic=True):
    graph = helper.make_graph(nodes, name, [vi(n, a.shape, symbolic) for n, a in inputs],
                              [vi(n, np.shape(a), symbolic) for n, a in outputs],
                              initializer=list(inits))
    model = helper.make_model(graph, producer_name="ebmc tests/data/lowering_shape/gen.py",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset >= 17 else 7
    with open(os.path.join(HERE, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def case(name, nodes, inputs, outputs, inits=(), opset=13, symbolic=True):
    write(name, nodes, inputs, outputs, inits, opset, symbolic)
    for k, (_, a) in enumerate(inputs):
        np.save(os.path.join(HERE, "%s.in%d.npy" % (name, k)), np.asarray(a, np.float32))
    for k, (_, a) in enumerate(outputs):
        np.save(os.path.join(HERE, "%s.out%d.npy" % (name, k)), np.asarray(a, np.float64))
    CASES.append("%s %d" % (name, 1 if symbolic else 0))


def ints(name, v):
    return numpy_helper.from_array(np.asarray(v, np.int64), name)


def floats(name, v):
    return numpy_helper.from_array(np.asarray(v, np.float32), name)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name=op.lower() + "_0", **attrs)


def split_cases():
    x = rand(1, (3, 10, 4))
    d = x.astype(np.float64)
    case("split_input", [node("Split", ["x", "s"], ["a", "b", "c"], axis=1)], [("x", x)],
         [("a", d[:, :2]), ("b", d[:, 2:7]), ("c", d[:, 7:])], [ints("s", [2, 5, 3])])
    case("split_equal", [node("Split", ["x"], ["a", "b"], axis=-1)], [("x", x)],
         [("a", d[:, :, :2]), ("b", d[:, :, 2:])])
    case("split_attr_op11", [node("Split", ["x"], ["a", "b"], axis=1, split=[4, 6])], [("x", x)],
         [("a", d[:, :4]), ("b", d[:, 4:])], opset=11)
    case("split_num_outputs18", [node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)], [("x", x)],
         [("a", d[:, :4]), ("b", d[:, 4:8]), ("c", d[:, 8:])], opset=18)


def tile_cases():
    x = rand(2, (2, 3, 4))
    case("tile", [node("Tile", ["x", "r"], ["y"])], [("x", x)],
         [("y", np.tile(x.astype(np.float64), (1, 2, 3)))], [ints("r", [1, 2, 3])])
    x6 = rand(3, (2, 1, 2, 1, 2, 3))
    case("tile_rank6", [node("Tile", ["x", "r"], ["y"])], [("x", x6)],
         [("y", np.tile(x6.astype(np.float64), (1, 2, 1, 3, 1, 2)))], [ints("r", [1, 2, 1, 3, 1, 2])])


def pad_cases():
    x = rand(4, (2, 3, 5, 4))
    d = x.astype(np.float64)
    pads = [0, 0, 2, 1, 0, 0, 1, 3]
    width = [(pads[i], pads[i + 4]) for i in range(4)]
    for mode, np_mode in (("reflect", "reflect"), ("edge", "edge"), ("wrap", "wrap")):
        case("pad_" + mode, [node("Pad", ["x", "p"], ["y"], mode=mode)], [("x", x)],
             [("y", np.pad(d, width, mode=np_mode))], [ints("p", pads)], opset=19 if mode == "wrap" else 13)
    # negative pads crop first; the axes input (opset 18)
    case("pad_reflect_crop", [node("Pad", ["x", "p"], ["y"], mode="reflect")], [("x", x)],
         [("y", np.pad(d[:, :, 1:, :], [(0, 0), (0, 0), (0, 2), (1, 1)], mode="reflect"))],
         [ints("p", [0, 0, -1, 1, 0, 0, 2, 1])])
    case("pad_edge_axes18", [node("Pad", ["x", "p", "", "a"], ["y"], mode="edge")], [("x", x)],
         [("y", np.pad(d, [(0, 0), (0, 0), (0, 0), (2, 1)], mode="edge"))],
         [ints("p", [2, 1]), ints("a", [-1])], opset=18)


def depth_space_cases():
    x = rand(5, (2, 8, 3, 2))
    d = x.astype(np.float64)
    n, c, h, w, b = 2, 8, 3, 2, 2
    dcr = d.reshape(n, b, b, c // 4, h, w).transpose(0, 3, 4, 1, 5, 2).reshape(n, c // 4, h * b, w * b)
    case("depth_to_space_dcr", [node("DepthToSpace", ["x"], ["y"], blocksize=2)], [("x", x)], [("y", dcr)])
    crd = F.pixel_shuffle(torch.from_numpy(d), 2).numpy()
    case("depth_to_space_crd", [node("DepthToSpace", ["x"], ["y"], blocksize=2, mode="CRD")], [("x", x)],
         [("y", crd)])
    x2 = rand(6, (2, 3, 4, 6))
    d2 = x2.astype(np.float64)
    s2d = d2.reshape(2, 3, 2, 2, 3, 2).transpose(0, 3, 5, 1, 2, 4).reshape(2, 12, 2, 3)
    case("space_to_depth", [node("SpaceToDepth", ["x"], ["y"], blocksize=2)], [("x", x2)], [("y", s2d)])


def constant_cases():
    x = rand(7, (3, 4))
    d = x.astype(np.float64)
    # x + Range(1, 9, 2) (float) and x * EyeLike-based mask; static shape graphs
    nodes = [helper.make_node("Constant", [], ["s"], value=floats("sv", 1.0)),
             helper.make_node("Constant", [], ["l"], value=floats("lv", 9.0)),
             helper.make_node("Constant", [], ["dl"], value=floats("dv", 2.0)),
             node("Range", ["s", "l", "dl"], ["r"]),
             node("Add", ["x", "r"], ["y"])]
    case("range_float", nodes, [("x", x)], [("y", d + np.arange(1.0, 9.0, 2.0))], symbolic=False)
    nodes = [helper.make_node("Constant", [], ["s"], value=ints("sv", 10)),
             helper.make_node("Constant", [], ["l"], value=ints("lv", 2)),
             helper.make_node("Constant", [], ["dl"], value=ints("dv", -3)),
             node("Range", ["s", "l", "dl"], ["r"]),
             helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
             helper.make_node("Concat", ["x", "x"], ["xx"], axis=1),
             helper.make_node("Slice", ["xx", "st", "en", "ax"], ["xs"]),
             node("Mul", ["xs", "rf"], ["y"])]
    case("range_int", nodes, [("x", x)], [("y", d[:, :3] * np.arange(10, 2, -3))],
         [ints("st", [0]), ints("en", [3]), ints("ax", [1])], symbolic=False)
    nodes = [node("EyeLike", ["x"], ["e"], k=1), node("Mul", ["x", "e"], ["y"])]
    case("eye_like", nodes, [("x", x)], [("y", d * np.eye(3, 4, k=1))], symbolic=False)
    # x.expand(-1, 4, -1) as torch exports it: Equal/Where on static int64 shapes
    xe = rand(8, (2, 1, 3))
    shape = np.array([-1, 4, -1], np.int64)
    nodes = [helper.make_node("Constant", [], ["sh"], value=ints("shv", shape)),
             helper.make_node("Shape", ["sh"], ["shsh"]),
             helper.make_node("ConstantOfShape", ["shsh"], ["ones"], value=ints("one", [1])),
             helper.make_node("Constant", [], ["m1"], value=ints("m1v", -1)),
             helper.make_node("Mul", ["ones", "m1"], ["neg"]),
             node("Equal", ["sh", "neg"], ["eq"]),
             node("Where", ["eq", "ones", "sh"], ["tgt"]),
             node("Expand", ["x", "tgt"], ["y"])]
    case("expand_equal_where", nodes, [("x", xe)], [("y", np.broadcast_to(xe.astype(np.float64), (2, 4, 3)))])


def cumsum_cases():
    x = rand(9, (2, 5, 3))
    d = x.astype(np.float64)
    for excl in (0, 1):
        for rev in (0, 1):
            y = np.flip(d, 1) if rev else d
            y = np.cumsum(y, axis=1) - (y if excl else 0)
            y = np.flip(y, 1) if rev else y
            case("cumsum_e%d_r%d" % (excl, rev), [node("CumSum", ["x", "a"], ["y"], exclusive=excl, reverse=rev)],
                 [("x", x)], [("y", y)], [ints("a", 1)])
    case("cumsum_last", [node("CumSum", ["x", "a"], ["y"])], [("x", x)], [("y", np.cumsum(d, axis=2))],
         [ints("a", [-1])])


def f32s(*v):
    """The scales as the model stores them (float32), as Python floats for torch."""
    return tuple(float(np.float32(a)) for a in v)


def resize_cases():
    x = rand(10, (2, 3, 4, 5))
    t = torch.from_numpy(x.astype(np.float64))
    sc = [1, 1, 2, 1.6]
    case("resize_nearest_asym_floor",
         [node("Resize", ["x", "", "s"], ["y"], mode="nearest", coordinate_transformation_mode="asymmetric",
               nearest_mode="floor")], [("x", x)],
         [("y", F.interpolate(t, scale_factor=f32s(2, 1.6), mode="nearest", recompute_scale_factor=False).numpy())],
         [floats("s", sc)])
    case("resize_linear_half_pixel", [node("Resize", ["x", "", "s"], ["y"], mode="linear")], [("x", x)],
         [("y", F.interpolate(t, scale_factor=f32s(2, 1.6), mode="bilinear", align_corners=False,
                              recompute_scale_factor=False).numpy())], [floats("s", sc)])
    case("resize_linear_align_sizes",
         [node("Resize", ["x", "", "", "z"], ["y"], mode="linear", coordinate_transformation_mode="align_corners")],
         [("x", x)], [("y", F.interpolate(t, size=(7, 3), mode="bilinear", align_corners=True).numpy())],
         [ints("z", [2, 3, 7, 3])], symbolic=False)
    case("resize_linear_down", [node("Resize", ["x", "", "s"], ["y"], mode="linear")], [("x", x)],
         [("y", F.interpolate(t, scale_factor=f32s(0.5, 0.6), mode="bilinear", align_corners=False,
                              recompute_scale_factor=False).numpy())], [floats("s", [1, 1, 0.5, 0.6])])
    # round_prefer_floor / round_prefer_ceil with half_pixel: the ONNX formulas in NumPy
    for nm in ("round_prefer_floor", "round_prefer_ceil", "ceil"):
        ys = []
        for n_in, n_out in ((4, 8), (5, 7)):
            o = np.arange(n_out)
            src = (o + 0.5) * n_in / n_out - 0.5
            if nm == "round_prefer_floor":
                idx = np.where(src - np.floor(src) == 0.5, np.floor(src), np.floor(src + 0.5))
            elif nm == "round_prefer_ceil":
                idx = np.floor(src + 0.5)
            else:
                idx = np.ceil(src)
            ys.append(np.clip(idx, 0, n_in - 1).astype(np.int64))
        y = x.astype(np.float64)[:, :, ys[0], :][:, :, :, ys[1]]
        case("resize_nearest_" + nm,
             [node("Resize", ["x", "", "", "z"], ["y"], mode="nearest", nearest_mode=nm)], [("x", x)],
             [("y", y)], [ints("z", [2, 3, 8, 7])], symbolic=False)
    x3 = rand(11, (2, 3, 6))
    t3 = torch.from_numpy(x3.astype(np.float64))
    case("resize_1d_axes18", [node("Resize", ["x", "", "s"], ["y"], mode="linear", axes=[2],
                                   coordinate_transformation_mode="pytorch_half_pixel")], [("x", x3)],
         [("y", F.interpolate(t3, scale_factor=1.5, mode="linear", align_corners=False,
                              recompute_scale_factor=False).numpy())], [floats("s", [1.5])], opset=18)
    case("upsample9_nearest", [node("Upsample", ["x", "s"], ["y"], mode="nearest")], [("x", x)],
         [("y", x.astype(np.float64).repeat(2, axis=2).repeat(3, axis=3))], [floats("s", [1, 1, 2, 3])],
         opset=9)
    case("resize10_linear", [node("Resize", ["x", "s"], ["y"], mode="linear")], [("x", x)],
         [("y", _asym_linear(x, 2, 2))],
         [floats("s", [1, 1, 2, 2])], opset=10)


def _asym_linear(x, sh, sw):
    """Linear resize with asymmetric coordinates (Resize-10 / Upsample), NumPy."""
    y = x.astype(np.float64)
    for ax, s in ((2, sh), (3, sw)):
        n_in = y.shape[ax]
        src = np.clip(np.arange(int(n_in * s)) / s, 0, n_in - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = (src - i0).reshape([-1 if a == ax else 1 for a in range(y.ndim)])
        y = np.take(y, i0, axis=ax) * (1 - w) + np.take(y, i1, axis=ax) * w
    return y


def error_cases():
    x = np.zeros((2, 3, 4, 4), np.float32)
    write("err_resize_cubic", [node("Resize", ["x", "", "s"], ["y"], mode="cubic")], [("x", x)],
          [("y", np.zeros((2, 3, 8, 8)))], [floats("s", [1, 1, 2, 2])])
    write("err_tile_batch", [node("Tile", ["x", "r"], ["y"])], [("x", x)], [("y", np.zeros((4, 3, 4, 4)))],
          [ints("r", [2, 1, 1, 1])])
    write("err_cumsum_batch", [node("CumSum", ["x", "a"], ["y"])], [("x", x)], [("y", x)], [ints("a", 0)])
    write("err_pad_mode", [node("Pad", ["x", "p"], ["y"], mode="symmetric")], [("x", x)], [("y", x)],
          [ints("p", [0] * 8)])
    write("err_reflect_too_far", [node("Pad", ["x", "p"], ["y"], mode="reflect")], [("x", x)],
          [("y", np.zeros((2, 3, 8, 4)))], [ints("p", [0, 0, 4, 0, 0, 0, 0, 0])])
    write("err_split_batch", [node("Split", ["x"], ["a", "b"], axis=0)], [("x", x)], [("a", x), ("b", x)])


def main():
    for f in os.listdir(HERE):
        if f.endswith((".onnx", ".npy")):
            os.remove(os.path.join(HERE, f))
    split_cases()
    tile_cases()
    pad_cases()
    depth_space_cases()
    constant_cases()
    cumsum_cases()
    resize_cases()
    error_cases()
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        f.write("# written by gen.py: case name, 1 if dim 0 is the batch N\n")
        f.write("\n".join(CASES) + "\n")
    print("%d cases" % len(CASES))


if __name__ == "__main__":
    main()
