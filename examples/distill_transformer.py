#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""distill_transformer.py - recovers a pruned + quantized pretrained transformer by
distillation with sparq.torch: all-MiniLM-L6-v2 (the sentence encoder of tools/eval),
its 36 encoder Linear layers 50 % unstructured + int8 per row as the student (QATLinear +
masks), the f32 model as the teacher, unlabeled sentences as inputs, and a loss on the
outputs (the sentence embeddings and the hidden states they pool).

Steps:
  1. loads the model (scripts/fetch_minilm.sh puts it in build/models/all-MiniLM-L6-v2)
     into a torch port of tools/eval/bert_numpy.py's forward (checked against it);
  2. sparq.torch.calibrate on the teacher over the calibration sentences (the lines of
     tools/eval/calib_text.txt before the last 40; padding rows dropped): X^T X and the
     sums of squares of every encoder Linear's inputs, in the file `sparq convert
     --stats` reads;
  3. the student's start (--score): "sparsegpt" (default) runs sparq.convert_file with
     --method sparsegpt --structure csr --sparsity 0.5 --quant i8-row on those
     statistics and loads the packed weights back as weights and masks; "wanda" and
     "magnitude" prune the f32 weights per row by |w| sqrt(sum x^2) or |w|; every encoder
     Linear becomes a sparq.torch.QATLinear in i8-row and a sparq.torch.Pruner holds the
     masks at 50 % (--prune gradual: from dense over the first half of training);
  4. one-shot cosine: mean and min over the 40 held-out sentences of the cosine between
     the student's and the teacher's sentence embeddings (as tools/eval measures), and
     its mean over the distillation sentences;
  5. distillation on the calibration sentences (with --corpus wordnet also the 23,637
     example sentences of Debian's WordNet, package wordnet-base; or a FILE of them),
     each token but [CLS]/[SEP] replaced with probability --augment (0.1) by a token of
     the calibration text (new unlabeled inputs; the teacher answers them): loss = mean
     (1 - cosine of the sentence embeddings) + MSE of the last hidden states +
     --layer-weight (1) x the mean MSE of the other layers' (real tokens only); AdamW,
     lr 1e-4 with a cosine decay, batch 16, 8 epochs or --steps; everything but the
     embeddings trains;
  6. the cosines again, then (--export) sparq.torch.export writes the student to sparq's
     safetensors (36 packed csr+i8-row matrices + the other tensors; one is read back
     and compared bit for bit), and --serve runs the held-out sentences with every
     Linear served by sparq's kernels (sparq.torch.convert) and reports that cosine and
     the largest embedding difference from the torch student.

Run from the repository root (2 cores: about 8 minutes with the defaults):
  PYTHONPATH=python SPARQ_LIBRARY=build/libsparq.so /usr/bin/python3 \\
      examples/distill_transformer.py --export build/examples/minilm_csr50_i8-row.safetensors \\
      --serve
"""
import argparse
import copy
import json
import math
import os
import random
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
import bert_numpy  # noqa: E402
import sparq  # noqa: E402
import sparq.torch as st  # noqa: E402


# ---- the model: tools/eval/bert_numpy.py's forward in torch -------------------------------
# Module names follow the file's tensor names (encoder.layer.0.attention.self.query ...), so
# that calibrate and export name layers as `sparq convert` does.

class _SelfAttention(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)


class _DenseNorm(nn.Module):
    def __init__(self, i, h, eps):
        super().__init__()
        self.dense = nn.Linear(i, h)
        self.LayerNorm = nn.LayerNorm(h, eps=eps)


class _Attention(nn.Module):
    def __init__(self, h, eps):
        super().__init__()
        self.self = _SelfAttention(h)
        self.output = _DenseNorm(h, h, eps)


class _Intermediate(nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.dense = nn.Linear(h, f)


class _Layer(nn.Module):
    def __init__(self, h, f, heads, eps):
        super().__init__()
        self.attention = _Attention(h, eps)
        self.intermediate = _Intermediate(h, f)
        self.output = _DenseNorm(f, h, eps)
        self.heads = heads

    def forward(self, x, mask):
        b, n, h = x.shape
        hd = h // self.heads
        a = self.attention.self

        def split(t):
            return t.view(b, n, self.heads, hd).transpose(1, 2)

        q, k, v = split(a.query(x)), split(a.key(x)), split(a.value(x))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, h)
        x = self.attention.output.LayerNorm(self.attention.output.dense(ctx) + x)
        y = self.output.dense(F.gelu(self.intermediate.dense(x)))   # exact (erf) GELU
        return self.output.LayerNorm(y + x)


class _Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=float(cfg.get("layer_norm_eps", 1e-12)))


class _Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.layer = nn.ModuleList(
            _Layer(cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"], eps)
            for _ in range(cfg["num_hidden_layers"]))


class SentenceEncoder(nn.Module):
    """BERT encoder + mean pooling + L2 normalisation: forward(ids, mask) -> (embeddings
    (B, H), last hidden states (B, L, H)); mask is True at real tokens."""

    def __init__(self, cfg):
        super().__init__()
        self.embeddings = _Embeddings(cfg)
        self.encoder = _Encoder(cfg)

    def forward(self, ids, mask, hidden=None):
        """hidden: a list that receives every layer's output (B, L, H), if given."""
        e = self.embeddings
        n = ids.shape[1]
        x = (e.word_embeddings(ids) + e.position_embeddings(torch.arange(n))[None]
             + e.token_type_embeddings(torch.zeros_like(ids)))
        x = e.LayerNorm(x)
        for layer in self.encoder.layer:
            x = layer(x, mask)
            if hidden is not None:
                hidden.append(x)
        m = mask.to(x.dtype)[..., None]
        pooled = (x * m).sum(1) / m.sum(1)
        return F.normalize(pooled, dim=-1), x


def load(model_dir):
    """(torch model, tokenizer, file prefix, config) of a model directory."""
    cfg, weights, tok = bert_numpy.load_model(model_dir)
    prefix = bert_numpy.find_prefix(weights)
    model = SentenceEncoder(cfg)
    state = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in weights.items()
             if k.startswith(prefix) and not k[len(prefix):].startswith("pooler.")}
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, tok, prefix, cfg, weights


def batchify(tok, sentences):
    """(ids (B, L) int64, mask (B, L) bool) of sentences, padded with [PAD]."""
    seqs = [tok.encode(s) for s in sentences]
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), tok.pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = True
    return ids, mask


WORDNET = "/usr/share/wordnet"


def read_corpus(spec):
    """Unlabeled sentences of one --corpus: 'wordnet' gives the quoted example sentences
    of WordNet's glosses (Debian's wordnet-base: /usr/share/wordnet/data.{noun,verb,adj,
    adv}, lines "offset ... | gloss; \"example\"; \"example\""), else a text file's lines
    (blank and '#' lines skipped). Sentences of 6 to 40 words, first letter capitalised,
    each once, in the order read."""
    out = []
    if spec == "wordnet":
        for part in ("noun", "verb", "adj", "adv"):
            path = os.path.join(WORDNET, "data." + part)
            if not os.path.exists(path):
                raise SystemExit(f"--corpus wordnet: {path} is missing "
                                 "(apt-get install wordnet-base)")
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("  ") or "|" not in line:
                        continue   # the licence header
                    gloss = line.split("|", 1)[1]
                    out += [q.strip() for q in gloss.split('"')[1::2]]
    else:
        with open(spec, encoding="utf-8") as f:
            out = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    seen, sents = set(), []
    for q in out:
        if 6 <= len(q.split()) <= 40 and q not in seen:
            seen.add(q)
            sents.append(q[0].upper() + q[1:])
    return sents


def cosines(a, b):
    return (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(-1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "build/models/all-MiniLM-L6-v2"))
    ap.add_argument("--text", default=os.path.join(REPO, "tools/eval/calib_text.txt"))
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--quant", default="i8-row")
    ap.add_argument("--score", choices=("sparsegpt", "wanda", "magnitude"), default="sparsegpt",
                    help="how the student starts: `sparq convert --method sparsegpt` (masks and "
                         "updated weights; default), or the f32 weights pruned by Wanda's "
                         "|w| sqrt(sum x^2) or by |w|")
    ap.add_argument("--work", default=os.path.join(REPO, "build", "examples"),
                    help="folder for --score sparsegpt's statistics and converted file")
    ap.add_argument("--prune", choices=("oneshot", "gradual"), default="oneshot")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--token-weight", type=float, default=1.0,
                    help="weight of the last hidden states' MSE in the loss (default 1)")
    ap.add_argument("--layer-weight", type=float, default=1.0,
                    help="weight of the other layers' hidden-state loss (default 1; 0: outputs "
                         "only)")
    ap.add_argument("--hidden-loss", choices=("mse", "cos"), default="mse",
                    help="how hidden states are compared: mean squared error (default) or "
                         "1 - cosine per token")
    ap.add_argument("--augment", type=float, default=0.1,
                    help="replace each token with this probability in training inputs "
                         "(default 0.1; 0: the sentences as they are)")
    ap.add_argument("--corpus", metavar="wordnet|FILE", action="append", default=[],
                    help="more unlabeled distillation inputs besides the calibration "
                         "sentences (repeatable): 'wordnet' reads the example sentences of "
                         "Debian's wordnet-base (/usr/share/wordnet), FILE one sentence a line")
    ap.add_argument("--corpus-size", type=int, default=0,
                    help="sentences drawn from --corpus (default 0: all of them)")
    ap.add_argument("--steps", type=int, default=0,
                    help="training steps (default 0: --epochs passes over the inputs); the "
                         "held-out cosine is reported every --eval-every steps")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="steps between reports (default 0: once an epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", metavar="OUT.safetensors",
                    help="write the recovered student with sparq.torch.export")
    ap.add_argument("--serve", action="store_true",
                    help="also run the held-out sentences through sparq's kernels")
    ap.add_argument("--json", metavar="PATH", help="write the numbers as JSON")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t_start = time.time()

    teacher, tok, prefix, cfg, weights = load(a.model)
    for p in teacher.parameters():
        p.requires_grad_(False)
    calib, held = bert_numpy.split_sentences(a.text)

    # the torch port against tools/eval's numpy forward, on the held-out sentences
    ids_h, mask_h = batchify(tok, held)
    with torch.no_grad():
        emb_t, _ = teacher(ids_h, mask_h)
    ref = bert_numpy.encode_sentences(bert_numpy.BertEncoder(cfg, weights), tok, held)
    port_diff = float(np.abs(emb_t.numpy() - ref).max())
    print(f"model: {a.model}, {len(calib)} calibration and {len(held)} held-out sentences; "
          f"torch port vs bert_numpy: max |embedding difference| {port_diff:.2e}")

    # batches of similar lengths (less padding)
    rng = random.Random(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    def length_batches(sents):
        order = sorted(range(len(sents)), key=lambda i: len(tok.encode(sents[i])))
        return [batchify(tok, [sents[i] for i in order[s:s + a.batch]])
                for s in range(0, len(order), a.batch)]

    batches = length_batches(calib)
    tokens = int(sum(int(m.sum()) for _, m in batches))
    # more unlabeled inputs for distillation only (calibration stays on calib)
    extra = []
    held_set = set(held) | set(calib)
    for spec in a.corpus:
        extra += [q for q in read_corpus(spec) if q not in held_set]
    if a.corpus_size and len(extra) > a.corpus_size:
        extra = random.Random(a.seed + 1).sample(extra, a.corpus_size)
    train_batches = batches + (length_batches(extra) if extra else [])
    train_tokens = int(sum(int(m.sum()) for _, m in train_batches))
    if extra:
        print(f"corpus: {len(extra)} more sentences from {', '.join(a.corpus)} "
              f"({train_tokens - tokens} tokens)")
    # the token ids the calibration sentences use (what --augment draws replacements from)
    vocab = torch.unique(torch.cat([ids[m] for ids, m in batches]))
    vocab = vocab[(vocab != tok.cls_id) & (vocab != tok.sep_id)]

    def augment(ids, mask):
        """New unlabeled inputs from old ones: each real token but [CLS]/[SEP] replaced,
        with probability --augment, by a token of the calibration text (the teacher
        answers whatever the student sees)."""
        inner = mask.clone()
        inner[:, 0] = False
        inner[torch.arange(len(ids)), mask.sum(1) - 1] = False
        swap = inner & (torch.rand(ids.shape, generator=gen) < a.augment)
        pick = vocab[torch.randint(len(vocab), ids.shape, generator=gen)]
        return torch.where(swap, pick, ids), mask

    # calibration statistics of the teacher's Linear inputs (real tokens only)
    current = {}

    def fwd(model, batch):
        current["mask"] = batch[1].reshape(-1)
        return model(*batch)

    t0 = time.time()
    os.makedirs(a.work, exist_ok=True)
    stats_path = os.path.join(a.work, "minilm_calib.safetensors")
    stats = st.calibrate(teacher, batches, stats_path if a.score == "sparsegpt" else None,
                         include=r"^encoder\.layer", with_gram=a.score == "sparsegpt",
                         prefix=prefix, forward=fwd,
                         row_filter=lambda name, x: x[current["mask"]])
    sumsq = {name[len(prefix):-len(".weight")]: torch.from_numpy(c.sumsq)
             for name, c in stats.items()}
    print(f"calibrate: {len(stats)} layers, {next(iter(stats.values())).rows} token rows "
          f"({time.time() - t0:.1f} s)")

    # the student
    student = copy.deepcopy(teacher)
    for name, p in student.named_parameters():   # train all but the embeddings
        p.requires_grad_(not name.startswith("embeddings."))
    names = st.qat(student, a.quant, include=r"^encoder\.layer")
    scope = "row"
    if a.score == "sparsegpt":
        # sparq's SparseGPT (the f32 model's statistics) prunes, quantizes and updates
        # the kept weights; they start the student, their zeros its masks
        conv = os.path.join(a.work, "minilm_sparsegpt.safetensors")
        t0 = time.time()
        sparq.convert_file(bert_numpy.model_paths(a.model)[0], conv, structure="csr",
                           quant=a.quant, sparsity=a.sparsity, method="sparsegpt",
                           stats=stats_path, include=r"encoder\.layer\..*\.weight$",
                           max_nmse=0.0, no_rollback=True, force=True)
        for name, module in student.named_modules():
            if isinstance(module, st.QATLinear):
                w = torch.from_numpy(sparq.load_packed(conv, prefix + name + ".weight").unpack())
                with torch.no_grad():
                    module.weight.copy_(w)
                    module.weight_mask.copy_((w != 0).to(torch.uint8))
        print(f"sparsegpt: sparq.convert_file {a.sparsity:.0%} csr+{a.quant} "
              f"({time.time() - t0:.1f} s)")
        scope = "global"   # SparseGPT's masks are not balanced per row
    if a.score == "wanda":
        def score(name, module, w):
            return np.abs(w) * np.sqrt(sumsq[name].numpy())[None, :].astype(np.float32)
    else:
        score = None
    steps_per_epoch = len(train_batches)
    total = a.steps or a.epochs * steps_per_epoch
    every = a.eval_every or steps_per_epoch
    if a.prune == "oneshot":
        pruner = st.Pruner(student, "unstructured", a.sparsity, begin_step=0, end_step=1,
                           frequency=1, initial_sparsity=a.sparsity, scope=scope,
                           include=r"^encoder\.layer", score=score)
    else:
        freq = max(1, steps_per_epoch // 4)
        end = max(freq, (total // 2) // freq * freq)
        pruner = st.Pruner(student, "unstructured", a.sparsity, begin_step=0, end_step=end,
                           frequency=freq, scope="row", include=r"^encoder\.layer",
                           score=score)

    def held_out():
        student.eval()
        with torch.no_grad():
            emb_s, _ = student(ids_h, mask_h)
        c = cosines(emb_s, emb_t)
        return float(c.mean()), float(c.min()), emb_s

    def on_calibration():
        """Cosine mean over the distillation sentences themselves (not augmented)."""
        student.eval()
        cs = []
        with torch.no_grad():
            for ids, mask in batches:
                cs.append(cosines(student(ids, mask)[0], teacher(ids, mask)[0]))
        return float(torch.cat(cs).mean())

    before_mean, before_min, _ = held_out()
    before_train = on_calibration()
    if a.prune == "gradual":
        # what one-shot pruning to the final sparsity gives, for contrast
        probe = copy.deepcopy(student)
        st.Pruner(probe, "unstructured", a.sparsity, begin_step=0, end_step=1, frequency=1,
                  initial_sparsity=a.sparsity, scope="row", include=r"^encoder\.layer",
                  score=score)
        with torch.no_grad():
            c = cosines(probe(ids_h, mask_h)[0], emb_t)
        before_mean, before_min = float(c.mean()), float(c.min())
        del probe
    if a.prune == "gradual":
        before_train = None   # the student starts dense
    how = "SparseGPT's masks" if a.score == "sparsegpt" else f"per row, {a.score} score"
    print(f"student: {len(names)} QATLinear in {a.quant}, {a.sparsity:.0%} unstructured ({how}, "
          f"{a.prune}); one-shot held-out cosine mean {before_mean:.5f}, min {before_min:.5f}"
          + (f"; on the distillation sentences {before_train:.5f}" if before_train else ""))

    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0, foreach=True)
    step = 0
    t_train = time.time()
    history = []
    run_loss = run_cos = 0.0
    run_n = 0
    while step < total:
        idx = list(range(len(train_batches)))
        rng.shuffle(idx)
        for bi in idx:
            if step == total:
                break
            student.train()
            ids, mask = train_batches[bi]
            if a.augment:
                ids, mask = augment(ids, mask)
            hid_t, hid_s = [], []
            with torch.no_grad():
                emb_teacher, _ = teacher(ids, mask, hid_t)
            emb, _ = student(ids, mask, hid_s)
            m = mask[..., None].to(emb.dtype)

            def mse(x, y):   # over the real tokens
                if a.hidden_loss == "cos":
                    return ((1.0 - F.cosine_similarity(x, y, dim=-1)) * m[..., 0]).sum() / m.sum()
                return (((x - y) ** 2) * m).sum() / (m.sum() * x.shape[-1])

            cos = (emb * emb_teacher).sum(-1).mean()
            loss = 1.0 - cos
            if a.token_weight:
                loss = loss + a.token_weight * mse(hid_s[-1], hid_t[-1])
            if a.layer_weight:
                loss = loss + a.layer_weight * sum(
                    mse(x, y) for x, y in zip(hid_s[:-1], hid_t[:-1])) / (len(hid_s) - 1)
            run_cos += float(cos)
            for g in opt.param_groups:
                g["lr"] = a.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            pruner.step()
            step += 1
            run_n += 1
            run_loss += float(loss)
            if step % every == 0 or step == total:
                mean, mn, _ = held_out()
                history.append({"step": step, "epoch": step / steps_per_epoch,
                                "loss": run_loss / run_n, "train_cos": run_cos / run_n,
                                "cos_mean": mean, "cos_min": mn,
                                "seconds": time.time() - t_train})
                print(f"step {step}/{total} (epoch {step / steps_per_epoch:.2f}): loss "
                      f"{run_loss / run_n:.5f}, training cosine {run_cos / run_n:.5f}, "
                      f"held-out cosine mean {mean:.5f} min {mn:.5f} "
                      f"({time.time() - t_train:.0f} s)", flush=True)
                run_loss = run_cos = 0.0
                run_n = 0
    train_s = time.time() - t_train
    after_mean, after_min, emb_student = held_out()
    after_train = on_calibration()
    sp = pruner.sparsities()
    print(f"recovered: held-out cosine mean {before_mean:.5f} -> {after_mean:.5f}, min "
          f"{before_min:.5f} -> {after_min:.5f} (on the distillation sentences "
          + (f"{before_train:.5f} -> " if before_train else "") + f"{after_train:.5f}); "
          f"{step} steps x batch {a.batch} over {len(calib) + len(extra)} sentences "
          f"({train_tokens} tokens, {step / steps_per_epoch:.2f} epochs, --augment {a.augment}), "
          f"{train_s:.0f} s on {a.threads} threads; "
          f"sparsity {min(sp.values()):.3f}..{max(sp.values()):.3f}")
    result = {"model": os.path.basename(os.path.normpath(a.model)), "quant": a.quant,
              "sparsity": a.sparsity, "score": a.score, "prune": a.prune,
              "calib_sentences": len(calib), "calib_tokens": tokens, "held_out": len(held),
              "corpus": a.corpus, "corpus_sentences": len(extra),
              "train_tokens": train_tokens, "steps": step, "batch": a.batch,
              "epochs": step / steps_per_epoch, "lr": a.lr,
              "threads": a.threads, "train_seconds": train_s,
              "cos_mean_before": before_mean, "cos_min_before": before_min,
              "cos_mean_after": after_mean, "cos_min_after": after_min,
              "calib_cos_before": before_train, "calib_cos_after": after_train,
              "augment": a.augment, "layer_weight": a.layer_weight,
              "token_weight": a.token_weight, "history": history}

    if a.export:
        rep = st.export(student, a.export, prefix=prefix)
        listed = sparq.list_packed(a.export)
        name0, fmt0 = listed[0][0], listed[0][1]
        back = sparq.load_packed(a.export, name0).unpack()
        mod = dict(student.named_modules())[name0[len(prefix):-len(".weight")]]
        same = np.array_equal(back, mod.quantized_weight().numpy())
        bpw = sum(r["bits_per_weight"] * r["rows"] * r["cols"] for r in rep) / sum(
            r["rows"] * r["cols"] for r in rep)
        print(f"export: {a.export}: {len(listed)} packed matrices ({fmt0}, {bpw:.2f} bits/weight "
              f"over them), {name0} read back equals the QAT weights: {same}")
        result.update(export=a.export, packed=len(listed), bits_per_weight=bpw)
    if a.serve:
        served = copy.deepcopy(student)
        rep = st.convert(served)
        t0 = time.time()
        with torch.no_grad():
            emb_served, _ = served(ids_h, mask_h)
        c = cosines(emb_served, emb_t)
        diff = float((emb_served - emb_student).abs().max())
        exact = all(r.get("exact") for r in rep)
        print(f"served through sparq ({len(rep)} layers on {st.default_context().device_name}, "
              f"{time.time() - t0:.1f} s): held-out cosine mean {float(c.mean()):.5f}, min "
              f"{float(c.min()):.5f}; max |embedding - torch student's| {diff:.2e}; packed "
              f"weights equal the QAT weights bit for bit: {exact}")
        result.update(served_cos_mean=float(c.mean()), served_cos_min=float(c.min()),
                      served_max_diff=diff, served_exact=exact)
    result["wall_seconds"] = time.time() - t_start
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
