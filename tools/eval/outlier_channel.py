# SPDX-License-Identifier: Apache-2.0
"""outlier_channel.py - the outlier-channel case on a real layer: one input channel of the
weights scaled by 100 and its input by 1/100 (the layer computes the same), converted to
i4-g128 by rtn and gptq under the weight gate and the output gate (--max-nmse 0.05).
Prints sparq convert's row for each: the fraction of zero weights, NMSE and NMSE_out.

    /usr/bin/python3 tools/eval/outlier_channel.py --sparq build/sparq \
        --model build/models/all-MiniLM-L6-v2 --stats build/eval/calib.safetensors

(--stats: a statistics file of the model, as eval_compression.py or calibrate.py write.)
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_numpy as b  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sparq", default="build/sparq")
    ap.add_argument("--model", default="build/models/all-MiniLM-L6-v2")
    ap.add_argument("--stats", required=True)
    ap.add_argument("--layer", default="encoder.layer.0.intermediate.dense.weight")
    ap.add_argument("--channel", type=int, default=7)
    a = ap.parse_args()
    w = b.load_float_weights(os.path.join(a.model, "model.safetensors"))[a.layer]
    tensors, meta = b.read_safetensors(a.stats)
    gram = tensors[a.layer + ".calib_gram"].astype(np.float64)
    rows = meta[a.layer + ".calib_rows"]
    with tempfile.TemporaryDirectory() as work:
        model, stats = os.path.join(work, "m.safetensors"), os.path.join(work, "s.safetensors")
        for label, scale in (("original", 1.0), ("channel x100", 100.0)):
            w2 = w.astype(np.float32).copy()
            w2[:, a.channel] *= scale
            g2 = gram.copy()
            g2[a.channel, :] /= scale
            g2[:, a.channel] /= scale
            b.write_safetensors(model, {a.layer: w2})
            b.write_safetensors(stats, {a.layer + ".calib_gram": g2,
                                        a.layer + ".calib_sumsq": np.diag(g2).copy()},
                                {"sparq_calib": "1", a.layer + ".calib_rows": rows})
            for method in ("rtn", "gptq"):
                for gate in ("weights", "outputs"):
                    out = subprocess.run(
                        [a.sparq, "convert", "--force", "--method", method, "--stats", stats,
                         "--structure", "dense", "--quant", "i4-g128", "--gate", gate,
                         "--max-nmse", "0.05", "--include", "weight", model,
                         os.path.join(work, "o.safetensors")],
                        capture_output=True, text=True, check=True)
                    row = [line for line in out.stdout.splitlines() if line.startswith(a.layer)]
                    print(f"{label:13s} {method:5s} gate {gate:8s} | {row[0][len(a.layer):].strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
