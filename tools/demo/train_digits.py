#!/usr/bin/python3
# train_digits.py - trains the demo model of `sparq demo`: an MLP (64 -> 256 -> 128 -> 10,
# ReLU) on the UCI handwritten digits bundled with scikit-learn, in plain numpy, and writes
# tools/demo/digits_mlp.safetensors (weights, the held-out test split, this script's own
# predictions on it, and the recipe). Developers run it (needs python3-sklearn); CI never does.
import os

# One BLAS thread: the same bits on every run (threaded BLAS may sum in another order).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import json
import struct
import sys

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 20240607
HIDDEN = (256, 128)
EPOCHS = 60
BATCH = 32
LR = 2e-3
WEIGHT_DECAY = 1e-4
TEST_FRACTION = 0.25
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits_mlp.safetensors")


def init_layers(rng, sizes):
    """nn.Linear layout: weight [out, in], bias [out]; He-uniform weights, zero biases."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(6.0 / fan_in)
        layers.append({"w": rng.uniform(-bound, bound, (fan_out, fan_in)),
                       "b": np.zeros(fan_out)})
    return layers


def forward(layers, x):
    """Returns the activations of every layer; the last entry is the logits."""
    acts = [x]
    for i, layer in enumerate(layers):
        z = acts[-1] @ layer["w"].T + layer["b"]
        acts.append(np.maximum(z, 0.0) if i + 1 < len(layers) else z)
    return acts


def backward(layers, acts, y):
    """Gradients of the mean softmax cross-entropy (plus L2 on weights)."""
    logits = acts[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    delta = p / len(y)
    grads = [None] * len(layers)
    for i in reversed(range(len(layers))):
        grads[i] = {"w": delta.T @ acts[i] + WEIGHT_DECAY * layers[i]["w"],
                    "b": delta.sum(axis=0)}
        if i > 0:
            delta = (delta @ layers[i]["w"]) * (acts[i] > 0)
    return grads


def train(layers, x, y, rng):
    """Adam over shuffled mini-batches."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m = [{k: np.zeros_like(v) for k, v in layer.items()} for layer in layers]
    v = [{k: np.zeros_like(val) for k, val in layer.items()} for layer in layers]
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            grads = backward(layers, forward(layers, x[idx]), y[idx])
            step += 1
            for layer, g, mi, vi in zip(layers, grads, m, v):
                for k in layer:
                    mi[k] = beta1 * mi[k] + (1 - beta1) * g[k]
                    vi[k] = beta2 * vi[k] + (1 - beta2) * g[k] ** 2
                    mhat = mi[k] / (1 - beta1 ** step)
                    vhat = vi[k] / (1 - beta2 ** step)
                    layer[k] -= LR * mhat / (np.sqrt(vhat) + eps)


def predict_f32(layers32, x32):
    """Predictions of the float32 weights as shipped: float32 inputs and weights, sums in
    float64 (the exact-as-possible reference every float32 implementation is close to)."""
    logits = forward([{k: a.astype(np.float64) for k, a in l.items()} for l in layers32],
                     x32.astype(np.float64))[-1]
    top2 = np.sort(logits, axis=1)[:, -2:]
    return logits.argmax(axis=1), float((top2[:, 1] - top2[:, 0]).min())


def write_safetensors(path, tensors, metadata):
    """safetensors by hand: 8-byte little-endian header length, JSON header (sorted keys,
    padded with spaces to a multiple of 8), then the data, each tensor 8-byte aligned."""
    dtypes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header = {"__metadata__": metadata}
    data = b""
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
        data += b"\0" * (-len(data) % 8)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)
    os.replace(tmp, path)


def main():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # k/16: exact in float32
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=SEED % (2 ** 32))

    rng = np.random.default_rng(SEED)
    sizes = (x.shape[1],) + HIDDEN + (10,)
    layers = init_layers(rng, sizes)
    train(layers, x_train.astype(np.float64), y_train, rng)

    layers32 = [{k: a.astype(np.float32) for k, a in l.items()} for l in layers]
    train_pred, _ = predict_f32(layers32, x_train)
    test_pred, margin = predict_f32(layers32, x_test)
    train_acc = float((train_pred == y_train).mean())
    test_correct = int((test_pred == y_test).sum())
    test_acc = test_correct / len(y_test)
    print(f"train accuracy {train_acc:.4f} ({len(y_train)} digits)")
    print(f"test accuracy  {test_acc:.4f} ({test_correct}/{len(y_test)} held out)")
    print(f"smallest top-1 logit margin on the test split: {margin:.4g}")

    tensors = {"test.x": x_test, "test.y": y_test, "test.pred": test_pred.astype(np.int64)}
    for i, layer in enumerate(layers32, start=1):
        tensors[f"fc{i}.weight"] = layer["w"]
        tensors[f"fc{i}.bias"] = layer["b"]
    recipe = (f"MLP {'-'.join(str(s) for s in sizes)}, ReLU, softmax cross-entropy, "
              f"Adam lr={LR} wd={WEIGHT_DECAY}, batch {BATCH}, {EPOCHS} epochs, seed {SEED}; "
              f"inputs pixel/16; stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} split "
              f"(random_state {SEED % (2 ** 32)}) of sklearn load_digits")
    metadata = {
        "model": "digits_mlp",
        "source": "UCI handwritten digits (sklearn.datasets.load_digits), 8x8 images",
        "recipe": recipe,
        "layers": str(len(layers32)),
        "train_accuracy": f"{train_acc:.6f}",
        "test_accuracy": f"{test_acc:.6f}",
        "test_correct": str(test_correct),
        "test_count": str(len(y_test)),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }
    write_safetensors(OUT, tensors, metadata)
    print(f"wrote {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
