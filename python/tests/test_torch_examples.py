# SPDX-License-Identifier: Apache-2.0
"""examples/recover_digits.py in miniature (2 epochs, i8-row): the whole path runs (QAT,
gradual pruning, distillation, export, load back, serve on the device) and the served
model agrees with the QAT model (predictions, logits within 1e-4, weights bit for bit).
The full example's accuracy targets are documented in examples/README.md, not tested."""
import json
import os
import sys

from conftest import REPO, need

torch = need("torch")


def test_recover_digits_runs_and_serves_what_was_trained(tmp_path):
    sys.path.insert(0, os.path.join(REPO, "examples"))
    try:
        import recover_digits
    finally:
        sys.path.pop(0)
    out = tmp_path / "r.json"
    threads = torch.get_num_threads()
    try:
        assert recover_digits.main(["--epochs", "2", "--quants", "i8-row", "--frequency", "10",
                                    "--threads", "1", "--out-dir", str(tmp_path),
                                    "--json", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    r = json.loads(out.read_text())
    run = r["runs"][0]
    assert r["dense_accuracy"] > 0.97
    assert run["oneshot_accuracy"] < run["qat_accuracy"]
    assert run["formats"] == ["csr+i8-row"] * 3
    assert all(abs(s - 0.9) < 0.01 for s in run["sparsity_reached"].values())
    assert run["exact_weights"]
    assert run["same_predictions"] >= 0.995 and run["max_logit_diff"] < 1e-4
    assert abs(run["served_accuracy"] - run["qat_accuracy"]) <= 0.005
