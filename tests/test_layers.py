"""The package's layers import downwards only: imaging / ops / backbones -> data, networks
(models), losses, metrics, baselines -> training -> entry points."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "musical_inpaint"
# What each layer may import from the package (besides itself).
ALLOWED = {
    "imaging": set(),
    "ops": set(),
    "backbones": set(),
    "data": {"imaging"},
    "models": {"imaging", "ops", "backbones"},
    "losses": {"imaging", "backbones"},
    "metrics": {"imaging"},
    "perceptual_metrics": {"backbones"},
    "baselines": {"imaging"},
    "training": {"imaging", "models", "losses", "metrics", "perceptual_metrics", "baselines"},
}


def internal_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("musical_inpaint."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("musical_inpaint.")}
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer):
    files = sorted((PACKAGE / layer).rglob("*.py")) if (PACKAGE / layer).is_dir() else [PACKAGE / f"{layer}.py"]
    assert files and all(f.is_file() for f in files)
    for path in files:
        unexpected = internal_imports(path) - ALLOWED[layer] - {layer}
        assert not unexpected, f"{path.relative_to(PACKAGE)} imports {sorted(unexpected)}"
