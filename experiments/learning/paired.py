"""Two runs' test figures paired by image: hole L1 of B minus A (points) per test set, with a 95 %
bootstrap interval of the mean and the images where B is lower.

    python experiments/learning/paired.py experiments/photos_cpu/run/eval experiments/photos_cpu/run/eval
"""

import sys, numpy as np
from pathlib import Path
from musical_inpaint.evaluate import read_per_image
base, new = Path(sys.argv[1]), Path(sys.argv[2])
rng = np.random.default_rng(0)
print("| test set | B - A (points) | 95 % bootstrap interval | images where B is lower |")
print("|---|---|---|---|")
for t in ("bsds500", "urban100", "paris", "places50"):
    a = {r["name"]: float(r["hole_l1_pct"]) for r in read_per_image(base / t)}
    b = {r["name"]: float(r["hole_l1_pct"]) for r in read_per_image(new / t)}
    d = np.array([b[n] - a[n] for n in sorted(a)])
    m = d[rng.integers(0, len(d), (10000, len(d)))].mean(1)
    lo, hi = np.percentile(m, [2.5, 97.5])
    print(f"| {t} | {d.mean():+.2f} | [{lo:+.2f}, {hi:+.2f}] | {(d < 0).sum()} / {len(d)} |")
