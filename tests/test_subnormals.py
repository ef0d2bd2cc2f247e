"""Subnormal floats stay out of the attention's products whoever calls it, the results are those of
the products with them, and the command-line entry points flush subnormals to zero."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.dispatch import OpCensus
from musical_inpaint.models import MultiScaleAttention
from musical_inpaint.ops import contextual_attention as kernel
from musical_inpaint.ops.floats import drop_negligible, negligible

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "musical_inpaint"
ENTRY_POINTS = ("train", "evaluate", "inpaint", "export", "app", "attention_flow")


def attention_case(channels=32, size=32):
    """The benchmark's case, smaller: a centre hole in random features, both branches."""
    torch.manual_seed(0)
    module = MultiScaleAttention(channels)
    x = torch.randn(2, channels, size, size, requires_grad=True)
    mask = torch.zeros(2, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return module, x, mask


def forward_backward(module, x, mask):
    x.grad = None
    module.zero_grad(set_to_none=True)
    with OpCensus(subnormals=True) as census:
        out = module(x, mask)
        out.square().mean().backward()
    return out.detach(), x.grad.clone(), [p.grad.clone() for p in module.parameters()], census


@pytest.fixture
def subnormals_kept():
    """Subnormal arithmetic as a caller from Python gets it: an entry point's main run in this
    process earlier (a test of inpaint's or the web page's command line) flushes them on the
    threads it ran on, which would hide what the kernel's own fix does."""
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(False)


def test_no_subnormal_probability_reaches_the_products_and_nothing_changes(monkeypatch, subnormals_kept):
    module, x, mask = attention_case()
    out, grad, param_grads, census = forward_backward(module, x, mask)
    monkeypatch.setattr(kernel, "drop_negligible", lambda probabilities: probabilities)
    out_before, grad_before, param_grads_before, census_before = forward_backward(module, x, mask)

    # Without the fix a few percent of what the matrix products read is subnormal; with it, a
    # handful of entries of the gradients, nothing in bulk.
    assert census_before.subnormal_share(("bmm",)) > 1e-2
    assert census.subnormal_share(("bmm",)) < 1e-6
    # The same results within float32 rounding: outputs, input gradients, parameter gradients.
    torch.testing.assert_close(out, out_before, rtol=1e-6, atol=1e-6 * out_before.abs().max().item())
    torch.testing.assert_close(grad, grad_before, rtol=1e-5, atol=1e-6 * grad_before.abs().max().item())
    for got, expected in zip(param_grads, param_grads_before, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6 * expected.abs().max().item())


def test_drop_negligible_keeps_what_counts_and_stays_differentiable():
    floor = negligible(torch.float32)
    assert floor == 2.0**-63
    p = torch.tensor([0.5, floor * 2, floor / 2, 1e-40, 0.0])
    assert drop_negligible(p.clone()).tolist() == [0.5, floor * 2, 0.0, 0.0, 0.0]
    q = p.clone().requires_grad_(True)
    (drop_negligible(q) * torch.arange(5.0)).sum().backward()
    assert q.grad.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert negligible(torch.float64) == 2.0**-511


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_flushes_subnormals_first(entry_point):
    """Each command's main function calls flush_subnormals before anything else runs."""
    tree = ast.parse((PACKAGE / f"{entry_point}.py").read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    calls = [n.func.id for n in ast.walk(main) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    calls = [name for name in calls if not name.startswith("add_")]  # the parser's shared arguments: no arithmetic
    assert "flush_subnormals" in calls
    assert calls.index("flush_subnormals") <= 1  # at most the parser's parse_args before it


def test_a_command_runs_with_subnormals_flushed(tmp_path):
    """The real effect, in a process of its own: after inpaint's main has run (and refused a
    missing image), float32 arithmetic flushes a subnormal result to zero."""
    script = (
        "import torch\n"
        "from musical_inpaint.inpaint import main\n"
        "before = (torch.tensor([2.0**-120]) / 2**20).item()\n"
        f"main(['--checkpoint', 'x.ckpt', '--image', {str(tmp_path / 'none.png')!r}, '--mask', 'center',"
        f" '--output', {str(tmp_path / 'out')!r}])\n"
        "print(before > 0, (torch.tensor([2.0**-120]) / 2**20).item() == 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True"]
