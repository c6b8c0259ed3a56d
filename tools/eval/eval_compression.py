#!/usr/bin/python3
"""eval_compression.py - does sparq's compression keep a real pretrained model accurate?

Owns: the side-by-side accuracy table of `sparq convert` recipes x methods on a BERT
sentence encoder (all-MiniLM-L6-v2, fetched by scripts/fetch_minilm.sh). For each recipe
(i8-row, i4-g128, csr50, 2:4, csr50+i8-row) and method (rtn, wanda, gptq, sparsegpt) it
  1. runs  SPARQ convert [--method M --stats CALIB] --structure S --quant Q [--sparsity X]
           --max-nmse 0 --include REGEX MODEL.safetensors OUT.safetensors
     (--max-nmse 0: no gate, every layer keeps the requested format unless convert refuses
     it as "no smaller than dense"; method rtn runs without --method/--stats, i.e. exactly
     as convert ran before methods existed; REGEX selects the 36 Linear weights of the
     encoder, not the embeddings and not the pooler);
  2. loads every converted layer back as a dense float matrix through libsparq (ctypes:
     sparq_safetensors_open, sparq_packed_load, sparq_packed_unpack) and the other tensors
     from OUT directly;
  3. runs tools/eval/bert_numpy.py's forward on the held-out sentences (the last 40 of
     tools/eval/calib_text.txt) and compares the sentence embeddings with the f32 model's:
     cosine mean and min over the sentences, next to bits/weight (weighted over the converted
     layers, from OUT.report.json's "layers"), the convert wall time, and (when the
     statistics file exists) NMSE_out = tr(dW H dW^T) / tr(W H W^T) averaged over the
     layers, computed here from the Gram matrices. Where convert refused the requested
     format (e.g. CSR 50 % + i8 is "no smaller than dense" i8) the note says so and the
     formats column shows what was written.
Statistics for the activation-aware methods come from tools/eval/calibrate.py on the
calibration sentences (all lines before the last 40), written to WORK/calib.safetensors
when --stats is not given and that file is missing.

Run (from the repository root, after building sparq and scripts/fetch_minilm.sh):
  /usr/bin/python3 tools/eval/eval_compression.py --sparq build/sparq --lib build/libsparq.so \\
      --model build/models/all-MiniLM-L6-v2 --work build/eval [--recipes i8-row,2:4]
      [--methods rtn,gptq] [--stats CALIB.safetensors] [--json results.json] [--keep]
Prints a markdown table; --json writes every number. Needs only numpy.
"""
import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_numpy  # noqa: E402
import calibrate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (structure, quant, sparsity or None)
RECIPES = {
    "i8-row": ("dense", "i8-row", None),
    "i4-g128": ("dense", "i4-g128", None),
    "csr50": ("csr", "f32", 0.5),
    "2:4": ("2:4", "f32", None),
    "csr50+i8-row": ("csr", "i8-row", 0.5),
}
METHODS = ["rtn", "wanda", "gptq", "sparsegpt"]
# The encoder's Linear weights (query, key, value, attention output dense, intermediate
# dense, output dense) of any prefix; not embeddings, LayerNorms, biases or the pooler.
DEFAULT_INCLUDE = r"encoder\.layer\.[0-9]+\..*(query|key|value|dense)\.weight$"


def note_for(recipe, method):
    structure, quant, _ = RECIPES[recipe]
    pruned = structure != "dense"
    if method == "wanda" and not pruned:
        return "Wanda only chooses what to prune: on a dense recipe it is RTN"
    if method == "gptq" and pruned:
        return "GPTQ keeps the RTN magnitude mask" + (
            "; f32: only the pruning error is fed back" if quant == "f32" else "")
    if method == "sparsegpt" and not pruned:
        return "nothing to prune: SparseGPT's sweep quantizes only (as GPTQ)"
    if method == "wanda" and quant != "f32":
        return "Wanda mask, then round to nearest"
    return ""


class Sparq:
    """The few libsparq calls needed to read packed matrices back."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        vp = ctypes.c_void_p
        lib.sparq_last_error.restype = ctypes.c_char_p
        lib.sparq_safetensors_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)]
        lib.sparq_safetensors_open.restype = ctypes.c_int
        lib.sparq_safetensors_close.argtypes = [vp]
        lib.sparq_safetensors_close.restype = None
        lib.sparq_packed_load.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(vp)]
        lib.sparq_packed_load.restype = ctypes.c_int
        lib.sparq_packed_rows.argtypes = [vp]
        lib.sparq_packed_rows.restype = ctypes.c_size_t
        lib.sparq_packed_cols.argtypes = [vp]
        lib.sparq_packed_cols.restype = ctypes.c_size_t
        lib.sparq_packed_unpack.argtypes = [vp, ctypes.POINTER(ctypes.c_float)]
        lib.sparq_packed_unpack.restype = ctypes.c_int
        lib.sparq_packed_free.argtypes = [vp]
        lib.sparq_packed_free.restype = None
        self.lib = lib

    def _check(self, status, what):
        if status != 0:
            err = self.lib.sparq_last_error()
            raise RuntimeError(f"{what}: status {status}: {err.decode() if err else '?'}")

    def unpack_all(self, path, names):
        """name -> dense float32 matrix of each packed matrix in path."""
        f = ctypes.c_void_p()
        self._check(self.lib.sparq_safetensors_open(path.encode(), ctypes.byref(f)), f"open {path}")
        out = {}
        try:
            for name in names:
                p = ctypes.c_void_p()
                self._check(self.lib.sparq_packed_load(f, name.encode(), ctypes.byref(p)),
                            f"load {name}")
                try:
                    rows, cols = self.lib.sparq_packed_rows(p), self.lib.sparq_packed_cols(p)
                    m = np.empty((rows, cols), dtype=np.float32)
                    self._check(self.lib.sparq_packed_unpack(
                        p, m.ctypes.data_as(ctypes.POINTER(ctypes.c_float))), f"unpack {name}")
                    out[name] = m
                finally:
                    self.lib.sparq_packed_free(p)
        finally:
            self.lib.sparq_safetensors_close(f)
        return out


def convert_command(a, recipe, method, model_st, out, stats):
    structure, quant, sparsity = RECIPES[recipe]
    cmd = [a.sparq, "convert"]
    if method != "rtn":
        cmd += ["--method", method, "--stats", stats]
    cmd += ["--structure", structure, "--quant", quant]
    if sparsity is not None:
        cmd += ["--sparsity", str(sparsity)]
    cmd += ["--max-nmse", "0", "--include", a.include, model_st, out]
    return cmd


def load_converted(sparq, out, original, config):
    """The weights dict of a converted model and its report."""
    with open(out + ".report.json", encoding="utf-8") as f:
        report = json.load(f)
    layers = report["layers"]
    names = [layer["name"] for layer in layers]
    weights = bert_numpy.load_float_weights(out)
    weights.update(sparq.unpack_all(out, names))
    for name, w in original.items():  # every tensor the forward needs, with its shape
        if name not in weights:
            raise RuntimeError(f"{out}: tensor {name} is missing")
        if weights[name].shape != w.shape:
            raise RuntimeError(f"{out}: tensor {name} has shape {weights[name].shape}, expected {w.shape}")
    expected = set(bert_numpy.linear_weight_names(original, config))
    if set(names) != expected:
        raise RuntimeError(f"converted layers differ from the encoder's Linear weights: "
                           f"{sorted(set(names) ^ expected)[:4]}")
    return weights, report


def summarise_report(report):
    layers = report["layers"]
    n = np.array([l["shape"][0] * l["shape"][1] for l in layers], dtype=np.float64)
    bits = np.array([l["bits_per_weight"] for l in layers], dtype=np.float64)
    spars = np.array([l.get("sparsity") or 0.0 for l in layers], dtype=np.float64)
    nmse = [l.get("nmse") for l in layers]
    formats = {}
    for l in layers:
        fmt = l["format"]
        key = fmt.get("name") or f"{fmt.get('structure')} {fmt.get('encoding')}"
        formats[key] = formats.get(key, 0) + 1
    out = {"bits_per_weight": float((bits * n).sum() / n.sum()),
           "sparsity": float((spars * n).sum() / n.sum()),
           "weight_nmse_mean": float(np.mean([x for x in nmse if x is not None])) if any(
               x is not None for x in nmse) else None,
           "formats": formats,
           "rolled_back_layers": sum(1 for l in layers if l.get("rolled_back")),
           "layers": len(layers)}
    onmse = [l.get("output_nmse") for l in layers if l.get("output_nmse") is not None]
    if onmse:
        out["output_nmse_mean"] = float(np.mean(onmse))
    return out


def output_nmse(original, weights, names, stats_file):
    """Mean over layers of NMSE_out = tr(dW H dW^T) / tr(W H W^T), dW = converted - original,
    H the calibration Gram of the layer (computed here, independently of sparq)."""
    vals = []
    for name in names:
        H = stats_file.raw(name + ".calib_gram")
        w = original[name].astype(np.float64)
        dw = weights[name].astype(np.float64) - w
        vals.append(float(((dw @ H) * dw).sum() / ((w @ H) * w).sum()))
    return float(np.mean(vals))


def cosines(ref, emb):
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-30)
    return (ref.astype(np.float64) * emb).sum(axis=1)


def markdown(rows):
    lines = ["| recipe | method | bits/w | cos mean | cos min | NMSE_out | convert s | formats | note |",
             "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['recipe']} | {r['method']} | | | | | | | failed: {r['error'][:100]} |")
            continue
        fmts = ", ".join(f"{k} x{v}" for k, v in r["formats"].items())
        onmse = r.get("output_nmse_eval")
        onmse = f"{onmse:.2e}" if onmse is not None else ""
        lines.append(f"| {r['recipe']} | {r['method']} | {r['bits_per_weight']:.2f} | "
                     f"{r['cos_mean']:.5f} | {r['cos_min']:.5f} | {onmse} | {r['convert_s']:.1f} | "
                     f"{fmts} | {r['note']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sparq", default="build/sparq", help="the sparq CLI (default %(default)s)")
    ap.add_argument("--lib", default="build/libsparq.so", help="libsparq (default %(default)s)")
    ap.add_argument("--model", default="build/models/all-MiniLM-L6-v2",
                    help="model directory (default %(default)s)")
    ap.add_argument("--work", default="build/eval", help="outputs go here (default %(default)s)")
    ap.add_argument("--text", default=os.path.join(HERE, "calib_text.txt"),
                    help="sentences; the last --held-out are evaluated (default tools/eval/calib_text.txt)")
    ap.add_argument("--held-out", type=int, default=bert_numpy.HELD_OUT)
    ap.add_argument("--stats", help="calibration statistics (default WORK/calib.safetensors, "
                                    "made by calibrate.py when missing)")
    ap.add_argument("--recipes", default=",".join(RECIPES),
                    help="comma-separated, from " + ", ".join(RECIPES))
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from " + ", ".join(METHODS))
    ap.add_argument("--include", default=DEFAULT_INCLUDE, help="convert's --include (default %(default)s)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the converted models in WORK")
    a = ap.parse_args(argv)

    recipes = [r for r in a.recipes.split(",") if r]
    methods = [m for m in a.methods.split(",") if m]
    for r in recipes:
        if r not in RECIPES:
            ap.error(f"unknown recipe {r!r}; known: {', '.join(RECIPES)}")
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; known: {', '.join(METHODS)}")
    os.makedirs(a.work, exist_ok=True)
    model_st, _ = bert_numpy.model_paths(a.model)
    calib_sents, held = bert_numpy.split_sentences(a.text, a.held_out)

    config, original, tok = bert_numpy.load_model(a.model)
    t0 = time.time()
    ref = bert_numpy.encode_sentences(bert_numpy.BertEncoder(config, original), tok, held)
    t_fwd = time.time() - t0
    print(f"f32 forward on {len(held)} held-out sentences: {t_fwd:.2f} s", file=sys.stderr)

    stats = a.stats or os.path.join(a.work, "calib.safetensors")
    if any(m != "rtn" for m in methods) and not os.path.exists(stats):
        if a.stats:
            ap.error(f"--stats {stats} does not exist")
        t0 = time.time()
        calibrate.calibrate(a.model, calib_sents, stats)
        print(f"calibration ({len(calib_sents)} sentences): {time.time() - t0:.2f} s", file=sys.stderr)

    stats_file = bert_numpy.SafeTensors(stats) if os.path.exists(stats) else None
    sparq = Sparq(a.lib)
    rows = []
    for recipe in recipes:
        for method in methods:
            slug = re.sub(r"[^A-Za-z0-9_.+-]", "_", f"{recipe}-{method}")
            out = os.path.join(a.work, slug + ".safetensors")
            cmd = convert_command(a, recipe, method, model_st, out, stats)
            row = {"recipe": recipe, "method": method, "note": note_for(recipe, method),
                   "command": " ".join(cmd)}
            print(f"{recipe} / {method}: {' '.join(cmd)}", file=sys.stderr)
            t0 = time.time()
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            row["convert_s"] = time.time() - t0
            if proc.returncode != 0:
                row["error"] = f"convert exit {proc.returncode}: " + " ".join(proc.stdout.strip().splitlines()[-2:])
                print("  " + row["error"], file=sys.stderr)
                rows.append(row)
                continue
            try:
                weights, report = load_converted(sparq, out, original, config)
                row.update(summarise_report(report))
                if report.get("totals", {}).get("seconds") is not None:
                    row["convert_report_s"] = report["totals"]["seconds"]
                if row["rolled_back_layers"]:
                    trail = next(l["trail"] for l in report["layers"] if l.get("rolled_back"))
                    method_note = row["note"] if row["rolled_back_layers"] < row["layers"] else ""
                    row["note"] = (f"convert refused the request for {row['rolled_back_layers']} "
                                   f"layers ({trail})" + ("; " + method_note if method_note else ""))
                if stats_file is not None:
                    row["output_nmse_eval"] = output_nmse(original, weights,
                                                          [l["name"] for l in report["layers"]], stats_file)
                t0 = time.time()
                emb = bert_numpy.encode_sentences(bert_numpy.BertEncoder(config, weights), tok, held)
                row["forward_s"] = time.time() - t0
                c = cosines(ref, emb)
                row["cos_mean"], row["cos_min"] = float(c.mean()), float(c.min())
                row["cos_per_sentence"] = [float(x) for x in c]
                print(f"  bits/w {row['bits_per_weight']:.2f}  cos mean {row['cos_mean']:.5f} "
                      f"min {row['cos_min']:.5f}  convert {row['convert_s']:.1f} s", file=sys.stderr)
            except Exception as e:  # noqa: BLE001 - one failing cell must not stop the table
                row["error"] = str(e)
                print("  " + row["error"], file=sys.stderr)
            finally:
                if not a.keep:
                    for p in (out, out + ".report.json"):
                        if os.path.exists(p) and p.endswith(".safetensors"):
                            os.remove(p)
            rows.append(row)

    print(markdown(rows))
    if a.json:
        result = {"model": a.model, "model_safetensors": model_st, "text": a.text,
                  "held_out_sentences": len(held), "calibration_sentences": len(calib_sents),
                  "stats": stats, "include": a.include, "f32_forward_s": t_fwd, "results": rows}
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
