"""A second device played on the CPU, so that device-placement bugs show on a machine without a GPU.

A CUDA tensor meeting a CPU tensor in one operation is an error on a GPU ("Expected all tensors to be
on the same device"); on a CPU-only machine every tensor is on the CPU and such a bug never shows.
`FakeAccelerator` is a TorchFunctionMode that keeps a set of tensors it calls "on the accelerator":
the parameters and buffers of the modules it is given, whatever `.to(ACCELERATOR)` or a factory with
`device=ACCELERATOR` made, and every result of an operation that read one of them. While it is
active, an operation that reads both a tensor on the accelerator and a CPU tensor of one or more
dimensions, or draws for one with a CPU random generator, raises DeviceMix, as CUDA would, except
where CUDA accepts it: the lengths and batch sizes of packed sequences (cuDNN wants them on the CPU)
and CPU indices into a tensor. `.numpy()` of a tensor on the accelerator raises too (CUDA refuses
it). The numbers are the CPU's, so the code under test runs to its end and its outputs can be checked.

The accelerator's name is "meta" (`tensor.device` and `module.device` say so): a real device type,
so code that asks `x.device` and builds tensors there takes the same path it takes on a GPU.
"""

import weakref

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

ACCELERATOR = torch.device("meta")
# CUDA takes CPU tensors here: pack_padded_sequence's lengths, a PackedSequence's batch_sizes
PACKED = {"_pack_padded_sequence", "_pad_packed_sequence", "lstm", "gru", "rnn_tanh", "rnn_relu"}
FACTORIES = {"zeros", "ones", "full", "empty", "arange", "tensor", "as_tensor", "rand", "randn", "randint", "eye"}


class DeviceMix(RuntimeError):
    pass


def _device(value) -> torch.device | None:
    if isinstance(value, torch.device):
        return value
    if isinstance(value, str):
        try:
            return torch.device(value)
        except RuntimeError:
            return None
    return None


class FakeAccelerator(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self._on: dict[int, weakref.ref] = {}

    # --- placement ----------------------------------------------------------------------------------
    def on(self, tensor) -> bool:
        ref = self._on.get(id(tensor))
        return ref is not None and ref() is tensor

    def _mark(self, value):
        for t in tree_flatten(value)[0]:
            if isinstance(t, torch.Tensor):
                self._on[id(t)] = weakref.ref(t)
        return value

    def place(self, module: torch.nn.Module) -> torch.nn.Module:
        """`module` as if moved to the accelerator: its parameters and buffers, and `module.device`."""
        for t in [*module.parameters(), *module.buffers()]:
            self._mark(t)
        for m in module.modules():
            if hasattr(m, "_device"):  # Lightning's module.device and torchmetrics' metric.device
                m._device = ACCELERATOR
        return module

    # --- the mode -----------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "__get__":  # a tensor property
            prop = getattr(getattr(func, "__self__", None), "__name__", "")
            if prop == "device" and self.on(args[0]):
                return ACCELERATOR
            if prop == "is_cuda" and self.on(args[0]):
                return True
            out = func(*args, **kwargs)  # .T, .data, .grad ...: where their tensor is
            return self._mark(out) if isinstance(out, torch.Tensor) and self.on(args[0]) else out
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if name in ("to", "cuda", "cpu"):
            return self._move(func, name, args, kwargs)
        if name == "numpy" and self.on(args[0]):
            raise DeviceMix("can't convert a tensor on the accelerator to numpy: call .cpu() first")
        target = _device(kwargs.get("device"))
        if name in FACTORIES and target is not None and target.type == ACCELERATOR.type:
            out = func(*args, **{**kwargs, "device": "cpu"})
            return self._mark(out)
        on = [t for t in tensors if self.on(t)]
        off = [t for t in tensors if not self.on(t) and t.dim() > 0]
        generator = kwargs.get("generator")
        if on and isinstance(generator, torch.Generator) and generator.device.type == "cpu":
            raise DeviceMix(f"{name}: a CPU generator draws for a tensor on the accelerator")
        if on and off and not self._accepted(name, args, off):
            shapes = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in off)
            raise DeviceMix(f"{name}: tensors on the accelerator meet CPU tensors ({shapes})")
        out = func(*args, **kwargs)
        if name in PACKED:  # their lengths and batch sizes come out on the CPU
            self._mark([t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor) and t.dtype != torch.int64])
        elif on and name not in ("tolist", "item", "__int__", "__float__", "__bool__", "__len__", "dim", "size"):
            self._mark(out)
        return out

    def _accepted(self, name: str, args, off: list[torch.Tensor]) -> bool:
        if name in PACKED:
            return all(t.dim() == 1 and t.dtype == torch.int64 for t in off)
        if name == "__getitem__":  # CPU indices into a tensor on the accelerator
            return not self.on(args[0]) or all(t.dtype in (torch.int64, torch.bool) for t in off)
        return False

    def _move(self, func, name: str, args, kwargs):
        tensor = args[0]
        if name == "cpu":
            target = torch.device("cpu")
        elif name == "cuda":
            target = ACCELERATOR
        else:
            devices = [d for d in map(_device, [*args[1:], kwargs.get("device")]) if d is not None]
            others = [a for a in args[1:] if isinstance(a, torch.Tensor)]  # x.to(other): other's device and dtype
            if others:
                devices.append(ACCELERATOR if self.on(others[0]) else torch.device("cpu"))
            target = devices[0] if devices else None
        rest = {k: v for k, v in kwargs.items() if k not in ("device", "non_blocking", "copy")}
        dtype = [a for a in args[1:] if isinstance(a, torch.dtype)] or ([rest["dtype"]] if "dtype" in rest else [])
        out = tensor.to(dtype[0]) if dtype else tensor
        if target is None:  # a dtype only: stays where it is
            return self._mark(out) if self.on(tensor) and out is not tensor else out
        if target.type == ACCELERATOR.type:
            if self.on(tensor):
                return out
            return self._mark(out.clone() if out is tensor else out)
        if self.on(tensor) and out is tensor:
            return tensor.clone()  # a new tensor, not on the accelerator
        return out
