"""ebmc.from_torch: a PyTorch module exported to ONNX and opened."""
import os
import tempfile

from ._errors import Error
from ._model import Model


def from_torch(module, example, energy_head=None, opset_version=13, **export_kwargs):
    """Exports module (evaluated on the example input, a tensor [N, ...]) with
    torch.onnx.export to a temporary ONNX file, input 'x' and output 'y' with a
    symbolic batch dimension, and opens it as an ebmc.Model (compiled by ebmc;
    the ONNX file lives as long as the model).  Needs torch."""
    try:
        import torch
    except ImportError as e:
        raise Error(f"from_torch needs PyTorch, which cannot be imported here ({e}); install torch, or export "
                    f"the model with torch.onnx.export and open the file with ebmc.Model") from None
    if not isinstance(example, torch.Tensor):
        example = torch.as_tensor(example)
    tmp = tempfile.TemporaryDirectory(prefix="ebmc-torch-")
    path = os.path.join(tmp.name, "model.onnx")
    was_training = module.training
    module.eval()
    try:
        kw = dict(export_params=True, opset_version=opset_version, do_constant_folding=False,
                  input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
        kw.update(export_kwargs)
        with torch.no_grad():
            torch.onnx.export(module, (example,), path, **kw)
    except Exception as e:
        tmp.cleanup()
        raise Error(f"torch.onnx.export failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
    finally:
        module.train(was_training)
    try:
        m = Model(path, energy_head=energy_head)
    except BaseException:
        tmp.cleanup()
        raise
    m._owned.append(tmp)
    return m
