"""Two runs' test figures paired by image: hole L1 of B minus A (points) per test set, with a 95 %
bootstrap interval of the mean and the images where B is lower (photos_cpu/summarize.py's pairing).

    python experiments/learning/paired.py experiments/learning/runs/C0/eval experiments/photos_cpu/run/eval
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "photos_cpu"))
from summarize import TEST_SETS, paired_difference, per_image_hole_l1  # noqa: E402

base, new = Path(sys.argv[1]), Path(sys.argv[2])
rng = np.random.default_rng(0)
print("| test set | B - A (points) | 95 % bootstrap interval | images where B is lower |")
print("|---|---|---|---|")
for test_set in TEST_SETS:
    print(f"| {test_set} | {paired_difference(per_image_hole_l1(new / test_set), per_image_hole_l1(base / test_set), rng)} |")
