"""The examples run as a user runs them (a fresh process, from their own directory) and do what they say."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_train_predict_raster(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "train_predict_raster.py"), "2"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 epochs, best weights from runs/default-")
    predicted = re.search(r"predicted: \[([-\d ]+)\] true: \[([\d ]+)\]", result.stdout)
    guesses, truth = (list(map(int, group.split())) for group in predicted.groups())
    assert len(guesses) == len(truth) == 10 and sum(g == t for g, t in zip(guesses, truth)) >= 3  # above chance
    assert (tmp_path / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
