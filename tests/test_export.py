import re

import onnx
import onnxruntime
import pytest
import torch

from musical_inpaint.export import (
    InpaintingModel,
    check_onnx,
    check_torchscript,
    export_onnx,
    export_torchscript,
    exportable,
    main,
    sample_inputs,
)
from musical_inpaint.inference import load_generator
from musical_inpaint.ops.contextual_attention import _spread_padded, _spread_shifted


@pytest.fixture(scope="module")
def models(checkpoint):
    eager, _ = load_generator(checkpoint)
    inputs = sample_inputs(48, 64, seed=3)
    with torch.no_grad():
        reference = InpaintingModel(eager)(*inputs)
    return exportable(load_generator(checkpoint)[0]), inputs, reference


def test_torchscript_matches_eager(models, tmp_path):
    model, inputs, reference = models
    path = export_torchscript(model, inputs, tmp_path / "m.pt")
    assert check_torchscript(path, reference, inputs) < 1e-4
    # Another mask of the same size: the traced graph does not depend on the example's hole.
    image, _ = sample_inputs(48, 64, seed=4)
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., 5:20, 30:60] = 1
    with torch.no_grad():
        eager = model(image, mask)
        torch.testing.assert_close(torch.jit.load(str(path))(image, mask), eager, atol=1e-4, rtol=0)


def test_onnx_matches_eager_in_a_default_onnxruntime_session(models, tmp_path):
    model, inputs, reference = models
    path = export_onnx(model, inputs, tmp_path / "m.onnx")
    assert check_onnx(path, reference, inputs) < 1e-4
    session = onnxruntime.InferenceSession(str(path))  # every option at its default
    (out,) = session.run(None, {"image": inputs[0].numpy(), "mask": inputs[1].numpy()})
    assert float((torch.from_numpy(out) - reference).abs().max()) < 1e-4
    # Index-driven nodes were what made the default session fail: the attention written through
    # indexing exported as scatters whose index tensors, as large as the score grid, ONNX
    # Runtime's constant folding materialised (benchmarks/README.md, "Export").
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not ops & {"ScatterND", "ScatterElements", "GatherElements", "GatherND", "Range"}, ops


def test_the_traced_spread_is_the_in_place_one():
    grid = torch.randn(2, 5, 6, 7, 8, dtype=torch.float64)
    for halo, dims in ((1, (1, 3)), (2, (2, 4))):
        shape = list(grid.shape)
        for d in dims:
            shape[d] += 2 * halo
        expected = _spread_shifted(grid, halo, *dims, grid.new_empty(shape))
        assert torch.equal(_spread_padded(grid, halo, *dims), expected)


def test_command_line(checkpoint, tmp_path, capsys):
    assert main(["--checkpoint", str(checkpoint), "--size", "32", "48", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "torchscript:" in out and "onnx:" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["musical_32x48.onnx", "musical_32x48.pt"]
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(checkpoint), "--size", "30", "48"])


@pytest.mark.parametrize("layout", [dict(norm=torch.nn.BatchNorm2d)])  # the photos_cpu preset's
def test_the_generators_other_layouts_export_to_torchscript_and_onnx(tmp_path, layout):
    from musical_inpaint.models import MusicalGenerator

    torch.manual_seed(0)
    model = exportable(MusicalGenerator(base_channels=4, dilated_blocks=1, **layout))
    inputs = sample_inputs(48, 64, seed=3)
    with torch.no_grad():
        reference = model(*inputs)
    assert check_onnx(export_onnx(model, inputs, tmp_path / "m.onnx"), reference, inputs) < 1e-4
    path = export_torchscript(model, inputs, tmp_path / "m.pt")
    assert check_torchscript(path, reference, inputs) < 1e-4
    image, _ = sample_inputs(48, 64, seed=4)
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., 5:20, 30:60] = 1  # another hole: the traced graph follows it
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(path))(image, mask), model(image, mask), atol=1e-4, rtol=0)


class _Off(torch.nn.Module):
    """An exported model whose hole is 1e-3 off the eager one's: a mismatch the check must catch."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image, mask):
        return self.model(image, mask) + 1e-3 * mask


@pytest.mark.parametrize("format", ["torchscript", "onnx"])
def test_command_line_reports_a_mismatch_and_fails(checkpoint, tmp_path, capsys, monkeypatch, format):
    import musical_inpaint.export as export

    monkeypatch.setattr(export, "exportable", lambda generator: _Off(exportable(generator)).eval())
    assert (
        main(["--checkpoint", str(checkpoint), "--size", "32", "48", "--output", str(tmp_path), "--format", format])
        == 1
    )
    captured = capsys.readouterr()
    assert re.search(rf"export: {format} output differs from eager PyTorch by 0\.001\b", captured.err), captured.err
    assert f"{format}:" not in captured.out  # no success line


def test_a_mismatched_export_leaves_no_file_that_looks_like_a_result(checkpoint, tmp_path, monkeypatch):
    import musical_inpaint.export as export

    monkeypatch.setattr(export, "exportable", lambda generator: _Off(exportable(generator)).eval())
    assert main(["--checkpoint", str(checkpoint), "--size", "32", "48", "--output", str(tmp_path)]) == 1
    assert not list(tmp_path.iterdir())  # neither a result's name nor a temporary file
