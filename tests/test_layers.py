"""The package's layers import downwards only: errors, compat -> imaging / ops / backbones -> data,
networks (models), losses, metrics, baselines -> checkpoint loading (inference) -> training ->
entry points."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "musical_inpaint"
# What each layer may import from the package (besides itself). Below every layer: `errors` (the
# one-line errors) and `compat` (upgrades of what older versions wrote), which import nothing of it.
BASE = {"errors", "compat"}
ALLOWED = {
    "errors": set(),
    "compat": set(),
    "imaging": set(),
    "ops": set(),
    "backbones": BASE,
    "data": {"imaging"} | BASE,
    "models": {"imaging", "ops", "backbones"} | BASE,
    "losses": {"imaging", "backbones"} | BASE,
    "metrics": {"imaging"} | BASE,
    "perceptual_metrics": {"backbones", "metrics"} | BASE,
    "baselines": {"imaging"} | BASE,
    "inference": {"imaging", "models"} | BASE,
    "training": {"imaging", "models", "losses", "metrics", "perceptual_metrics", "baselines", "inference"} | BASE,
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
