"""Two runs' test figures paired by image: hole L1 of B minus A (points) per test set, with a 95 %
bootstrap interval of the mean and the images where B is lower (photos_cpu/summarize.py's pairing),
and the hole L1 that taking, image by image, the lower of A and B would give (a bound on what
choosing between the two methods per image could buy).

    python experiments/learning/paired.py experiments/learning/runs/C0/eval experiments/photos_cpu/run/eval

A or B is a folder of test-set folders (an evaluation's `eval/`), or a path with `{}` where the
test set's name goes (the classical floors: 'experiments/photos_cpu/run/floors/64/{}/telea'), or
several of them joined by commas: the runs' errors are then averaged image by image (e.g. two
seeds of each method, so that the difference is the seeds' mean; the interval is still over
images only, not over seeds).

    python experiments/learning/paired.py experiments/photos_cpu/run/eval,experiments/learning/runs/K4/eval \
        experiments/learning/runs/B1/eval,experiments/learning/runs/B2/eval

Test sets that some run did not score (section 19's X1 scored two of the four) are left out, and named.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "photos_cpu"))
from summarize import TEST_SETS, paired_difference, per_image_hole_l1  # noqa: E402


def test_set_folder(path: str, test_set: str) -> Path:
    return Path(path.format(test_set)) if "{}" in path else Path(path) / test_set


def hole_l1(paths: str, test_set: str) -> dict[str, float]:
    """Per-image hole L1 of one run, or the mean over the comma-separated runs."""
    folders = paths.split(",")
    if "" in folders:
        sys.exit(f"paired.py: an empty run in {paths!r}: join the runs' folders with single commas, none at either end")
    runs = [per_image_hole_l1(test_set_folder(path, test_set)) for path in folders]
    for path, errors in zip(folders[1:], runs[1:]):
        if errors.keys() != runs[0].keys():
            sys.exit(f"paired.py: {path} scored other {test_set} images than {folders[0]}")
    return {name: float(np.mean([errors[name] for errors in runs])) for name in runs[0]}


def scored_by_all(paths: str, test_set: str) -> bool:
    return all((test_set_folder(path, test_set) / "per_image.csv").is_file() for path in paths.split(",") if path)


base, new = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
paired = [test_set for test_set in TEST_SETS if scored_by_all(base, test_set) and scored_by_all(new, test_set)]
if not paired:
    sys.exit(f"paired.py: no test set scored by every run of {base} and {new}")
print("| test set | B - A (points) | 95 % bootstrap interval | images where B is lower | A | B | the lower per image |")
print("|---|---|---|---|---|---|---|")
for test_set in paired:
    a, b = hole_l1(base, test_set), hole_l1(new, test_set)
    if a.keys() != b.keys():
        sys.exit(f"paired.py: {new} scored other {test_set} images than {base}: nothing to pair")
    means = [np.mean([errors[name] for name in sorted(b)]) for errors in (a, b)]
    lower = np.mean([min(a[name], b[name]) for name in sorted(b)])
    print(f"| {test_set} | {paired_difference(b, a, rng)} | {means[0]:.2f} | {means[1]:.2f} | {lower:.2f} |")
left_out = [test_set for test_set in TEST_SETS if test_set not in paired]
if left_out:
    print(f"\nnot scored by every run, left out: {', '.join(left_out)}")
