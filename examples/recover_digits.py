#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""recover_digits.py - what one-shot compression loses and what training with sparq's
formats recovers, on the demo MLP of `sparq demo` (tools/demo/digits_mlp.safetensors:
64 -> 256 -> 128 -> 10, ReLU, UCI handwritten digits; 450 held-out test digits with
labels, calib.x the 1347 training inputs without labels).

For each encoding (i8-row and i4-g32):
  one-shot  every layer pruned to 90 % by magnitude (one threshold per matrix; --scope
            row: per row) and rounded to nearest (sparq.torch.convert with
            "csr0.9+<quant>", served by sparq's kernels);
  recovery  the student: the dense f32 MLP with every Linear a sparq.torch.QATLinear in
            <quant> (fake quantization with sparq's exact rules, the straight-through
            estimator), pruned gradually to 90 % by a sparq.torch.Pruner (the
            polynomial schedule of Zhu & Gupta, monotone masks) while it learns from the
            dense f32 MLP as teacher on calib.x (knowledge distillation: KL divergence of
            the softened outputs plus the MSE of the logits; no labels), with the
            inputs jittered by small pixel noise so the teacher answers new points;
  served    sparq.torch.export writes the student to sparq's safetensors (three packed
            csr+<quant> matrices, the biases), and each layer is loaded back
            (sparq.load_packed) into a sparq.torch.Linear on the device, ReLU fused.
Reports the test accuracy of the dense f32 MLP, of one-shot, of the QAT model in torch
eval mode and of the served model, the share of test digits where the served model's
prediction equals the QAT model's, and the largest |logit difference| between them.

Run from the repository root (a minute or two on 2 cores):
  PYTHONPATH=python SPARQ_LIBRARY=build/libsparq.so /usr/bin/python3 examples/recover_digits.py
Options: --quants i8-row,i4-g32 --sparsity 0.9 --epochs 150 --out-dir build/examples
"""
import argparse
import collections
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools", "eval"))
sys.path.append(os.path.join(REPO, "python"))  # an installed sparq (build/venv) first
import bert_numpy  # noqa: E402  (its numpy safetensors reader)
import sparq  # noqa: E402
import sparq.torch as st  # noqa: E402


def mlp(tensors, layers=3):
    """nn.Sequential fc1, relu1, fc2, relu2, fc3 with the file's weights (names match the
    file's fcN.weight / fcN.bias)."""
    mods = collections.OrderedDict()
    for i in range(1, layers + 1):
        w, b = tensors[f"fc{i}.weight"], tensors[f"fc{i}.bias"]
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(w)))
            lin.bias.copy_(torch.from_numpy(np.array(b)))
        mods[f"fc{i}"] = lin
        if i < layers:
            mods[f"relu{i}"] = nn.ReLU()
    return nn.Sequential(mods)


def accuracy(logits, y):
    return float((logits.argmax(1) == y).float().mean())


def served_from_file(path, tensors, context):
    """The MLP rebuilt from an exported file: each fcN.weight a packed matrix
    (sparq.load_packed) served as sparq.torch.Linear, ReLU fused into the epilogue."""
    exported, _ = bert_numpy.read_safetensors(path)
    mods = collections.OrderedDict()
    names = [n for n, *_ in sparq.list_packed(path)]
    for i, name in enumerate(sorted(names), start=1):
        packed = sparq.load_packed(path, name)
        bias = torch.from_numpy(np.array(exported[name[:-len("weight")] + "bias"]))
        mods[f"fc{i}"] = st.Linear(packed, bias=bias, activation="relu" if i < len(names)
                                   else None, context=context, name=name)
    return nn.Sequential(mods)


def distill(teacher, student, pruner, x_train, epochs, batch, lr, temperature, noise, seed):
    """Distillation on unlabeled inputs: the teacher's softened outputs (KL, T^2 scaled)
    and its logits (MSE). Adam with a cosine learning rate; pruner.step() after each
    optimizer step."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=lr)
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / batch)
    total = epochs * steps_per_epoch
    step = 0
    for _ in range(epochs):
        student.train()
        order = torch.randperm(n, generator=g)
        for s in range(0, n, batch):
            x = x_train[order[s:s + batch]]
            if noise:
                x = (x + noise * torch.randn(x.shape, generator=g)).clamp(0.0, 1.0)
            with torch.no_grad():
                t = teacher(x)
            out = student(x)
            kl = F.kl_div(F.log_softmax(out / temperature, 1), F.log_softmax(t / temperature, 1),
                          log_target=True, reduction="batchmean") * temperature ** 2
            loss = kl + 0.1 * F.mse_loss(out, t)
            for grp in opt.param_groups:
                grp["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            pruner.step()
            step += 1
    student.eval()
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "tools/demo/digits_mlp.safetensors"))
    ap.add_argument("--quants", default="i8-row,i4-g32")
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--noise", type=float, default=0.05,
                    help="std of the pixel noise added to the distillation inputs (0: none)")
    ap.add_argument("--prune-until", type=float, default=0.5,
                    help="the schedule ends at this fraction of training (default 0.5)")
    ap.add_argument("--frequency", type=int, default=50, help="steps between pruning rounds")
    ap.add_argument("--scope", choices=("row", "global"), default="global",
                    help="unstructured pruning over each whole matrix (default) or per row")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=os.path.join(REPO, "build", "examples"))
    ap.add_argument("--json", metavar="PATH", help="write the numbers as JSON")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out_dir, exist_ok=True)
    t_all = time.time()

    tensors, meta = bert_numpy.read_safetensors(a.model)
    x_test = torch.from_numpy(np.array(tensors["test.x"]))
    y_test = torch.from_numpy(np.array(tensors["test.y"]))
    x_train = torch.from_numpy(np.array(tensors["calib.x"]))
    teacher = mlp(tensors).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        dense_logits = teacher(x_test)
    dense_acc = accuracy(dense_logits, y_test)
    ctx = st.default_context()
    print(f"{os.path.relpath(a.model, REPO)}: {len(y_test)} test digits, {len(x_train)} "
          f"unlabeled training inputs; device {ctx.device_name}")
    print(f"dense f32: test accuracy {dense_acc:.2%} (file's recipe: "
          f"{float(meta.get('test_accuracy', 'nan')):.2%})")
    results = {"dense_accuracy": dense_acc, "test_digits": len(y_test),
               "train_inputs": len(x_train), "runs": []}

    for quant in a.quants.split(","):
        run = {"quant": quant, "sparsity": a.sparsity}
        # one-shot: magnitude pruning + round to nearest, served on the device
        oneshot = copy.deepcopy(teacher)
        rep = st.convert(oneshot, f"csr{a.sparsity}+{quant}", context=ctx, prune_scope=a.scope)
        with torch.no_grad():
            run["oneshot_accuracy"] = accuracy(oneshot(x_test), y_test)
        run["oneshot_bits_per_weight"] = sum(r["bits_per_weight"] * r["rows"] * r["cols"]
                                             for r in rep) / sum(r["rows"] * r["cols"]
                                                                 for r in rep)

        # recovery: QAT + gradual pruning + distillation
        t0 = time.time()
        student = copy.deepcopy(teacher)
        for p in student.parameters():
            p.requires_grad_(True)
        st.qat(student, quant)
        steps_total = a.epochs * math.ceil(len(x_train) / a.batch)
        end = max(a.frequency, int(steps_total * a.prune_until) // a.frequency * a.frequency)
        pruner = st.Pruner(student, "unstructured", a.sparsity, begin_step=0, end_step=end,
                           frequency=a.frequency, scope=a.scope)
        steps = distill(teacher, student, pruner, x_train, a.epochs, a.batch, a.lr,
                        a.temperature, a.noise, a.seed)
        run.update(steps=steps, train_seconds=time.time() - t0,
                   sparsity_reached=pruner.sparsities())
        with torch.no_grad():
            qat_logits = student(x_test)
        run["qat_accuracy"] = accuracy(qat_logits, y_test)

        # export, load back, serve on the device
        path = os.path.join(a.out_dir, f"digits_mlp_csr{a.sparsity:g}_{quant}.safetensors")
        rep = st.export(student, path)
        served = served_from_file(path, tensors, ctx)
        with torch.no_grad():
            served_logits = served(x_test)
        run.update(
            export=os.path.relpath(path, REPO),
            formats=[r["format"] for r in rep],
            bits_per_weight=sum(r["bits_per_weight"] * r["rows"] * r["cols"] for r in rep)
            / sum(r["rows"] * r["cols"] for r in rep),
            served_accuracy=accuracy(served_logits, y_test),
            same_predictions=float((served_logits.argmax(1) == qat_logits.argmax(1))
                                   .float().mean()),
            max_logit_diff=float((served_logits - qat_logits).abs().max()),
            exact_weights=all(np.array_equal(
                getattr(served, n).packed.unpack().view(np.uint32),
                getattr(student, n).quantized_weight().numpy().view(np.uint32))
                for n in ("fc1", "fc2", "fc3")),
            kernel=served.fc1.explain(len(y_test)).split("\n")[0])
        results["runs"].append(run)
        print(f"90 % + {quant}: one-shot {run['oneshot_accuracy']:.2%} -> QAT (torch eval) "
              f"{run['qat_accuracy']:.2%} ({run['qat_accuracy'] - dense_acc:+.2%} vs dense) -> "
              f"served {run['served_accuracy']:.2%}; served == QAT predictions on "
              f"{run['same_predictions']:.2%} of digits, max |logit diff| "
              f"{run['max_logit_diff']:.2e}; packed weights == QAT weights bit for bit: "
              f"{run['exact_weights']}")
        print(f"    {steps} steps in {run['train_seconds']:.1f} s, sparsity "
              f"{', '.join(f'{k} {v:.3f}' for k, v in run['sparsity_reached'].items())}, "
              f"{run['bits_per_weight']:.2f} bits/weight, {run['export']}")
    results["wall_seconds"] = time.time() - t_all
    print(f"total {results['wall_seconds']:.1f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
