#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""model_layout.py - sharded Hugging Face models for `sparq convert`'s tests, made and
checked without sparq (json + numpy only):

  make DIR [--hidden H --layers L --shards N --seed S]
      writes a llama-shaped model in DIR: model-0000K-of-0000N.safetensors shards, their
      model.safetensors.index.json and a config.json; mixed dtypes (F32, BF16, F16 weights;
      an F64 rotary table, a BOOL mask, I64 position ids), a 4-D convolution weight
      (vision.conv_stem.weight), norms and biases, embed_tokens and lm_head.
      Prints the total bytes. --hidden 1024 --layers 36 gives about 2 GB.
  check IN OUT [--report]
      checks a converted folder OUT against the model IN: the index names every tensor of
      every shard (and nothing else) with the right shard and total_size; config.json is
      IN's plus a "quantization_config" of quant_method "sparq" naming each converted
      tensor; every tensor IN has that was not converted is in OUT byte for byte (dtype,
      shape, bytes); every converted one is a packed matrix (NAME.<array> tensors and
      NAME.* metadata) whose rows x cols is its GEMM form, and a convolution records its
      original shape; the folder's other files (tokenizer.json, 1_Pooling/config.json)
      are copied as they are. Prints a one-line summary; exits 1 on the first mismatch.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "|b1", "U16": "<u2", "U32": "<u4",
          "U64": "<u8", "F8_E4M3": "u1", "F8_E5M2": "u1"}
INDEX = "model.safetensors.index.json"
# files beside the weights, copied as they are (a folder of them too: 1_Pooling/)
SIDE_FILES = {"tokenizer.json": '{"version": "1.0"}\n',
              "1_Pooling/config.json": '{"pooling_mode_mean_tokens": true}\n'}


def write_safetensors(path, tensors, metadata=None):
    """tensors: [(name, dtype tag, numpy array of that dtype's layout)] -> a file with the
    reference layout (header padded with spaces to 8 bytes, data in the order given)."""
    header, offset, blobs = {}, 0, []
    for name, tag, a in tensors:
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": tag, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """({name: (dtype tag, shape, raw bytes)}, metadata)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = (e["dtype"], tuple(e["shape"]), blob[8 + n + b:8 + n + end])
    return out, meta


def model_tensors(hidden, layers, seed):
    """[(name, tag, array)] of a small llama-shaped model with mixed dtypes."""
    rng = np.random.default_rng(seed)
    inter, vocab = hidden * 8 // 3 // 8 * 8, 4 * hidden

    def weight(rows, cols, tag):
        w = (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols))
        if tag == "BF16":
            return (w.view(np.uint32) >> 16).astype(np.uint16)
        return w.astype(DTYPES[tag])

    t = [("model.embed_tokens.weight", "BF16", weight(vocab, hidden, "BF16")),
         ("model.rotary_emb.inv_freq", "F64",
          1.0 / 10000 ** (np.arange(0, hidden // 8, dtype=np.float64) / (hidden // 8))),
         ("model.causal_mask", "BOOL", np.tril(np.ones((16, 16), dtype=np.bool_))),
         ("model.position_ids", "I64", np.arange(64, dtype=np.int64)[None, :]),
         ("vision.conv_stem.weight", "F32",
          rng.standard_normal((hidden // 4, 3, 4, 4), dtype=np.float32) / 7.0),
         ("vision.conv_stem.bias", "F32", np.zeros(hidden // 4, np.float32)),
         ("model.norm.weight", "F32", np.ones(hidden, np.float32)),
         ("lm_head.weight", "BF16", weight(vocab, hidden, "BF16"))]
    for i in range(layers):
        tag = ("F32", "BF16", "F16")[i % 3]
        p = f"model.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t.append((p + "self_attn." + proj + ".weight", tag, weight(hidden, hidden, tag)))
        t.append((p + "mlp.gate_proj.weight", tag, weight(inter, hidden, tag)))
        t.append((p + "mlp.up_proj.weight", tag, weight(inter, hidden, tag)))
        t.append((p + "mlp.down_proj.weight", tag, weight(hidden, inter, tag)))
        t.append((p + "input_layernorm.weight", "F32", np.ones(hidden, np.float32)))
        t.append((p + "post_attention_layernorm.weight", "F32", np.ones(hidden, np.float32)))
    return t, {"model_type": "llama", "hidden_size": hidden, "intermediate_size": inter,
               "num_hidden_layers": layers, "vocab_size": vocab, "torch_dtype": "bfloat16",
               "architectures": ["LlamaForCausalLM"]}


def make(a):
    os.makedirs(a.dir, exist_ok=True)
    tensors, config = model_tensors(a.hidden, a.layers, a.seed)
    total = sum(arr.nbytes for _, _, arr in tensors)
    per = total / a.shards
    shards, current, size = [], [], 0
    for item in tensors:   # cut into N shards of about equal bytes, in order
        current.append(item)
        size += item[2].nbytes
        if size >= per * (len(shards) + 1) and len(shards) < a.shards - 1:
            shards.append(current)
            current = []
    shards.append(current)
    weight_map = {}
    for k, group in enumerate(shards):
        name = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(a.dir, name), group, {"format": "pt"})
        weight_map.update({n: name for n, _, _ in group})
    with open(os.path.join(a.dir, INDEX), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name, text in SIDE_FILES.items():   # what else a model folder holds
        os.makedirs(os.path.dirname(os.path.join(a.dir, name)), exist_ok=True)
        with open(os.path.join(a.dir, name), "w") as f:
            f.write(text)
    print(f"{a.dir}: {len(tensors)} tensors in {len(shards)} shards, {total} bytes")


def fail(message):
    print(f"model_layout.py check: {message}", file=sys.stderr)
    sys.exit(1)


def check(a):
    with open(os.path.join(a.input, INDEX)) as f:
        in_index = json.load(f)
    with open(os.path.join(a.output, INDEX)) as f:
        out_index = json.load(f)
    ins, outs, out_meta = {}, {}, {}
    for shard in sorted(set(in_index["weight_map"].values())):
        ins.update({n: (shard, v) for n, v in read_safetensors(os.path.join(a.input, shard))[0].items()})
    shard_files = sorted(set(out_index["weight_map"].values()))
    if shard_files != sorted(set(in_index["weight_map"].values())):
        fail(f"output shards {shard_files} are not the input's")
    total = 0
    for shard in shard_files:
        tensors, meta = read_safetensors(os.path.join(a.output, shard))
        for name, v in tensors.items():
            if out_index["weight_map"].get(name) != shard:
                fail(f"{name} is in {shard}, the index says {out_index['weight_map'].get(name)}")
            outs[name] = (shard, v)
            total += len(v[2])
        out_meta.update(meta)
    if set(outs) != set(out_index["weight_map"]):
        fail(f"the index names tensors no shard holds: {sorted(set(out_index['weight_map']) - set(outs))[:3]}")
    if out_index["metadata"]["total_size"] != total:
        fail(f"total_size {out_index['metadata']['total_size']} != {total}")
    with open(os.path.join(a.input, "config.json")) as f:
        in_config = json.load(f)
    with open(os.path.join(a.output, "config.json")) as f:
        out_config = json.load(f)
    q = out_config.pop("quantization_config", None)
    if out_config != in_config:
        fail("config.json differs from the input's beyond quantization_config")
    if not q or q.get("quant_method") != "sparq":
        fail("config.json has no quantization_config with quant_method 'sparq'")
    converted = q["modules"]
    for name, (shard, (tag, shape, raw)) in ins.items():
        if name in converted:
            entry = converted[name]
            if out_meta.get(name + ".structure") is None or name + ".values" not in outs:
                fail(f"{name}: converted, but no packed matrix in the output")
            if outs[name + ".values"][0] != shard:
                fail(f"{name}: packed in {outs[name + '.values'][0]}, not its shard {shard}")
            rows, cols = int(out_meta[name + ".rows"]), int(out_meta[name + ".cols"])
            if (rows, cols) != (shape[0], int(np.prod(shape[1:]))):
                fail(f"{name}: packed {rows}x{cols} is not the GEMM form of {shape}")
            if len(shape) > 2 and out_meta.get(name + ".original_shape") != ",".join(map(str, shape)):
                fail(f"{name}: original_shape {out_meta.get(name + '.original_shape')} != {shape}")
            if entry.get("original_dtype") != tag:
                fail(f"{name}: original_dtype {entry.get('original_dtype')} != {tag}")
        else:
            if name not in outs:
                fail(f"{name} (not converted) is missing from the output")
            if outs[name][1] != (tag, shape, raw):
                fail(f"{name} (not converted) is not byte for byte the input's")
            if outs[name][0] != shard:
                fail(f"{name} moved from {shard} to {outs[name][0]}")
    for name in SIDE_FILES:
        with open(os.path.join(a.input, name), "rb") as f, open(os.path.join(a.output, name), "rb") as g:
            if f.read() != g.read():
                fail(f"{name} was not copied as it is")
    if set(q.get("modules_to_not_convert", [])) != set(ins) - set(converted):
        fail("modules_to_not_convert is not the tensors left as they were")
    print(f"checked {a.output}: {len(converted)} tensors converted, "
          f"{len(ins) - len(converted)} copied byte for byte, {len(shard_files)} shards, "
          f"{total} bytes (input {sum(len(v[2]) for _, v in ins.values())})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--hidden", type=int, default=64)
    m.add_argument("--layers", type=int, default=3)
    m.add_argument("--shards", type=int, default=4)
    m.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("check")
    c.add_argument("input")
    c.add_argument("output")
    a = ap.parse_args()
    make(a) if a.cmd == "make" else check(a)


if __name__ == "__main__":
    main()
