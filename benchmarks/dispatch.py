"""What a piece of code asks of the device, counted at the dispatcher on any machine: the aten
operators it runs (each a kernel launch on a GPU), the host synchronisations among them, and the
subnormal floats it feeds to its operators (slow on x86 CPUs).

    with OpCensus() as census:
        step()
    census.ops, census.syncs, census.by_op.most_common(10)
"""

from __future__ import annotations

from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# Operators that make the host wait for the device: a value read back (`.item()`, `bool(t)`,
# `int(t)`: _local_scalar_dense) and a shape that depends on the data (nonzero). A tensor made on
# a GPU from Python numbers (torch.tensor, new_tensor) is a blocking copy too, but dispatches no
# operator on the CPU: such copies are found by reading the code, not by this count.
SYNCS = {aten._local_scalar_dense.default, aten.nonzero.default}


def _is_view(func) -> bool:
    return func.is_view or func in (aten.detach.default, aten.alias.default)


class OpCensus(TorchDispatchMode):
    """Counts the aten operators run inside it, views left out (no kernel runs for them).

    ops: operators run; syncs: those among them that make a GPU's host wait (SYNCS); by_op and
    sync_ops: Counters of both by name. Setting `section` (e.g. "optimiser" around the optimiser
    steps) counts what follows into `by_section` instead of the totals. subnormals: also count, by
    operator, the subnormal entries of its floating-point inputs (an extra pass over every input:
    for diagnostics, not timing).
    """

    def __init__(self, subnormals: bool = False) -> None:
        super().__init__()
        self.subnormals = subnormals
        self.ops = 0
        self.syncs = 0
        self.by_op: Counter[str] = Counter()
        self.sync_ops: Counter[str] = Counter()
        self.section: str | None = None
        self.by_section: Counter[str] = Counter()
        self.subnormal_inputs: Counter[str] = Counter()
        self.float_inputs: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.section is not None:
            self.by_section[self.section] += not _is_view(func)
        elif not _is_view(func):
            name = func.overloadpacket.__name__
            self.ops += 1
            self.by_op[name] += 1
            if func in SYNCS:
                self.syncs += 1
                self.sync_ops[name] += 1
            if self.subnormals:
                self._count_subnormals(name, args, kwargs)
        return func(*args, **kwargs)

    def _count_subnormals(self, name: str, args, kwargs) -> None:
        inputs = {key: value for key, value in kwargs.items() if key != "out"}  # out=: uninitialised memory
        for value in torch.utils._pytree.tree_leaves((args, inputs)):
            if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
                tiny = torch.finfo(value.dtype).tiny
                magnitude = value.detach().abs()
                self.subnormal_inputs[name] += int(((magnitude < tiny) & (magnitude > 0)).sum())
                self.float_inputs[name] += value.numel()

    def subnormal_share(self, names: tuple[str, ...] | None = None) -> float:
        """The share of the floating-point inputs that were subnormal, over the given operators
        (None: all)."""
        names = names or tuple(self.float_inputs)
        total = sum(self.float_inputs[n] for n in names)
        return sum(self.subnormal_inputs[n] for n in names) / total if total else 0.0
