#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""calibrate.py - writes sparq's calibration statistics file for a BERT model (numpy only).

Owns: running tools/eval/bert_numpy.py's forward over the calibration sentences of a text
file and accumulating, for every Linear weight of the encoder (attention query, key, value
and output dense, intermediate dense, output dense; not the embeddings, not the pooler),
the statistics of its input rows X (tokens x K, padding tokens excluded) in float64, in the
layout of include/sparq.h ("Calibration statistics"):
  tensor   NAME.calib_sumsq  F64 [K]      sum over rows of x_j^2
  tensor   NAME.calib_gram   F64 [K, K]   X^T X (symmetrised)
  metadata NAME.calib_rows   decimal count of rows
  metadata sparq_calib       "1"
NAME is the weight tensor's name in the model (e.g. encoder.layer.0.attention.self.query.weight).

Run:
  /usr/bin/python3 tools/eval/calibrate.py MODEL_DIR_OR_SAFETENSORS TEXT OUT.safetensors
      [--held-out 40] [--batch 32] [--max-sentences N] [--no-gram]
      [--sequences sentences|packed|both] [--pack-tokens 128]
TEXT: one sentence a line, '#' lines skipped; the last --held-out sentences (default 40) are
held out and NOT used; all sentences before them are the calibration set (for
tools/eval/calib_text.txt: 867 sentences). --sequences says what one forward sequence is:
"sentences" (default) each sentence alone, [CLS] sentence [SEP]; "packed" consecutive
sentences joined into paragraphs of at most --pack-tokens tokens (as the GPTQ/SparseGPT
references calibrate on long sequences; longer contexts and later positions); "both" the
union of the two. The model directory needs model.safetensors, config.json and
tokenizer.json (scripts/fetch_minilm.sh).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_numpy  # noqa: E402


class Accumulator:
    """Per-layer sums over captured input rows, in float64."""

    def __init__(self, with_gram=True):
        self.with_gram = with_gram
        self.rows = {}
        self.sumsq = {}
        self.gram = {}

    def __call__(self, name, x):
        x64 = np.asarray(x, dtype=np.float64)
        if name not in self.rows:
            k = x64.shape[1]
            self.rows[name] = 0
            self.sumsq[name] = np.zeros(k)
            if self.with_gram:
                self.gram[name] = np.zeros((k, k))
        self.rows[name] += x64.shape[0]
        self.sumsq[name] += np.einsum("ij,ij->j", x64, x64)
        if self.with_gram:
            self.gram[name] += x64.T @ x64

    def tensors_and_metadata(self):
        tensors, meta = {}, {"sparq_calib": "1"}
        for name in self.rows:
            tensors[name + ".calib_sumsq"] = self.sumsq[name]
            if self.with_gram:
                g = self.gram[name]
                tensors[name + ".calib_gram"] = 0.5 * (g + g.T)
            meta[name + ".calib_rows"] = str(self.rows[name])
        return tensors, meta


SEQUENCES = ("sentences", "packed", "both")


def pack_sentences(tok, sentences, max_tokens=128):
    """Token ids of paragraphs: consecutive sentences joined with spaces while
    [CLS] paragraph [SEP] stays within max_tokens (a sentence longer than that alone is
    truncated by the tokenizer)."""
    out, cur, cur_len = [], [], 2
    for s in sentences:
        n = len(tok.encode(s)) - 2
        if cur and cur_len + n > max_tokens:
            out.append(tok.encode(" ".join(cur)))
            cur, cur_len = [], 2
        cur.append(s)
        cur_len += n
    if cur:
        out.append(tok.encode(" ".join(cur)))
    return out


def calibration_sequences(tok, sentences, mode="sentences", pack_tokens=128):
    """Token-id sequences of the calibration forward (see --sequences)."""
    if mode not in SEQUENCES:
        raise ValueError(f"sequences {mode!r}: expected one of {', '.join(SEQUENCES)}")
    seqs = []
    if mode in ("sentences", "both"):
        seqs += [tok.encode(t) for t in sentences]
    if mode in ("packed", "both"):
        seqs += pack_sentences(tok, sentences, pack_tokens)
    return seqs


def calibrate(model, sentences, out_path, batch=32, with_gram=True, quiet=False,
              sequences="sentences", pack_tokens=128):
    """Runs the forward over the calibration sequences of sentences (see
    calibration_sequences), writes out_path; returns the Accumulator."""
    config, weights, tok = bert_numpy.load_model(model)
    acc = Accumulator(with_gram)
    enc = bert_numpy.BertEncoder(config, weights, capture=acc)
    seqs = calibration_sequences(tok, sentences, sequences, pack_tokens)
    t0 = time.time()
    for s in range(0, len(seqs), batch):
        enc.embed(seqs[s:s + batch])
    t1 = time.time()
    expected = set(bert_numpy.linear_weight_names(weights, config))
    if set(acc.rows) != expected:
        raise RuntimeError(f"captured layers {sorted(set(acc.rows) ^ expected)} differ from the encoder's")
    tensors, meta = acc.tensors_and_metadata()
    bert_numpy.write_safetensors(out_path, tensors, meta)
    if not quiet:
        rows = next(iter(acc.rows.values()))
        print(f"calibrate: {len(sentences)} sentences as {len(seqs)} {sequences} sequences, "
              f"{rows} token rows, {len(acc.rows)} layers; "
              f"forward + statistics {t1 - t0:.2f} s, written {time.time() - t1:.2f} s -> {out_path}")
    return acc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="model directory (model.safetensors, config.json, tokenizer.json) "
                                  "or its .safetensors file")
    ap.add_argument("text", help="sentences, one a line; the last --held-out are not used")
    ap.add_argument("out", help="statistics file to write (.safetensors)")
    ap.add_argument("--held-out", type=int, default=bert_numpy.HELD_OUT,
                    help="sentences at the end of TEXT kept out of calibration (default %(default)s)")
    ap.add_argument("--max-sentences", type=int, default=0,
                    help="use only the first N calibration sentences (0: all)")
    ap.add_argument("--batch", type=int, default=32, help="sentences per forward (default 32)")
    ap.add_argument("--no-gram", action="store_true",
                    help="sums of squares only (enough for Wanda; GPTQ/SparseGPT need the Gram)")
    ap.add_argument("--sequences", choices=SEQUENCES, default="sentences",
                    help="one sentence a sequence, paragraphs packed up to --pack-tokens, or "
                         "both (default %(default)s)")
    ap.add_argument("--pack-tokens", type=int, default=128,
                    help="tokens per packed sequence, [CLS] and [SEP] included (default 128)")
    a = ap.parse_args(argv)
    calib, _ = bert_numpy.split_sentences(a.text, a.held_out)
    if a.max_sentences > 0:
        calib = calib[:a.max_sentences]
    calibrate(a.model, calib, a.out, batch=a.batch, with_gram=not a.no_gram,
              sequences=a.sequences, pack_tokens=a.pack_tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())
