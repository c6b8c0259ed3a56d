# SPDX-License-Identifier: Apache-2.0
"""sparq.torch - PyTorch modules over sparq: serve nn.Linear layers through sparq's
kernels, collect calibration statistics, and train with sparq's formats (quantization-aware
training with sparq's exact quantizer, gradual pruning with its schedule and monotone
masks), then export what was trained to sparq's safetensors.

    import sparq.torch as st
    served = st.Linear.from_linear(linear, "csr0.9+i8-row")   # inference on the device
    report = st.convert(model, "csr0.9+i8-row")                # every nn.Linear of a model
    st.calibrate(model, batches, "stats.safetensors")          # `sparq convert --stats`

    qat = st.QATLinear.from_linear(linear, quant="i8-row")     # fake-quantized forward
    pruner = st.Pruner(model, "unstructured", 0.9, begin_step=0, end_step=1000, frequency=50)
    for batch in data:
        loss(model(batch)).backward(); optimizer.step(); optimizer.zero_grad()
        pruner.step()                                          # schedule + monotone masks
    st.export(model, "model.safetensors")                     # packed in the trained formats
    st.convert(model)                                          # or serve it: bit for bit

Tensors in and out are CPU float32 tensors; weights follow nn.Linear (out_features x
in_features, one output feature per row), as sparq does. This module needs torch (Debian's
python3-torch) besides sparq's numpy binding; `import sparq` alone never imports torch.

Names: a layer's name is its name in model.named_modules() ("encoder.layer.0.attention.
self.query"); its weight tensor, in files, is NAME.weight (with an optional prefix), as
`sparq convert`, sparq_calib_load and sparq_packed_load look them up.
"""
import copy
import math
import os
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import sparq as _sparq
from . import _lib

__all__ = ["Linear", "QATLinear", "Pruner", "convert", "calibrate", "export",
           "default_context", "parse_structure", "fake_quantize"]

# ---- helpers ---------------------------------------------------------------------------

_default_context = None


def default_context():
    """The sparq.Context that Linear uses when given none: created on first use on the
    device sparq_context_create chooses (SPARQ_DEVICE selects another), then shared."""
    global _default_context
    if _default_context is None:
        _default_context = _sparq.Context()
    return _default_context


def _np_weight(t):
    """A float32 C-contiguous numpy copy of a tensor (on the CPU, detached)."""
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())


def _nmse(reference, approx):
    r = reference.astype(np.float64)
    e = approx.astype(np.float64) - r
    den = float(np.mean(r * r))
    mse = float(np.mean(e * e))
    if den == 0.0:
        return 0.0 if mse == 0.0 else math.inf
    return mse / den


_SPARSITY = r"(?:(?:0|1)(?:\.\d*)?|\.\d+)?"
_NM_RE = re.compile(r"^(\d+):(\d+)$")
_CSR_RE = re.compile(r"^csr" + _SPARSITY + r"$")
_BSR_RE = re.compile(r"^(?:bsr|blocks?)(\d+)x(32|16|8|4|2|1)" + _SPARSITY + r"$")


def parse_structure(structure):
    """What a structure word means for masks: ("dense",), ("csr",), ("bsr", r, c) or
    ("nm", n, m). Accepts sparq's spellings ("dense", "csr", "bsr4x4", "2:4"), "unstructured"
    (csr) and "blocks4x4" (bsr), with or without a trailing sparsity ("csr0.9")."""
    if structure is None:
        return ("dense",)
    s = str(structure).strip().lower()
    if s in ("dense", "unstructured"):
        return ("dense",) if s == "dense" else ("csr",)
    m = _CSR_RE.match(s)
    if m:
        return ("csr",)
    m = _BSR_RE.match(s)
    if m:
        return ("bsr", int(m.group(1)), int(m.group(2)))
    m = _NM_RE.match(s)
    if m:
        return ("nm", int(m.group(1)), int(m.group(2)))
    raise ValueError(f"structure {structure!r} is not dense, csr/unstructured, bsrRxC/"
                     f"blocksRxC or N:M")


def _structure_word(parsed):
    """sparq's structure spelling of a parse_structure result."""
    kind = parsed[0]
    if kind == "bsr":
        return f"bsr{parsed[1]}x{parsed[2]}"
    if kind == "nm":
        return f"{parsed[1]}:{parsed[2]}"
    return kind


def _split_format(fmt):
    """("csr0.9", "i8-row") of "csr0.9+i8-row"; the encoding defaults to f32."""
    if not isinstance(fmt, str):
        raise ValueError(f"format must be a spelling such as 'csr0.9+i8-row', not {fmt!r}")
    structure, _, quant = fmt.partition("+")
    return structure, (quant or "f32")


def _check_quant(quant):
    """Raises ValueError/sparq.Error for an encoding sparq does not spell."""
    _sparq.fake_quantize(np.zeros((1, 1), np.float32), quant)
    return quant


def fake_quantize(w, quant, calibration="minmax", percentile=None):
    """sparq's quantize-then-dequantize of a 2-D tensor with the straight-through
    estimator (gradient passes where the code was not clamped, 0 where it was): the
    differentiable function QATLinear applies to its weights."""
    return _FakeQuantize.apply(w, quant, calibration, percentile)


class _FakeQuantize(torch.autograd.Function):
    """forward: sparq.fake_quantize (sparq_fake_quantize: the scales, zero points,
    round-half-even and clamp of sparq_quantize, then sparq_dequantize), bit for bit.
    backward: the straight-through estimator masked outside the clip range: the gradient
    passes unchanged where the code was not clamped to [qmin, qmax] (the mask
    sparq_fake_quantize returns), and is 0 where w / scale fell beyond the codes."""

    @staticmethod
    def forward(ctx, w, quant, calibration, percentile):
        wn = _np_weight(w)
        need_mask = ctx.needs_input_grad[0]
        if need_mask:
            out, mask = _sparq.fake_quantize(wn, quant, calibration=calibration,
                                             percentile=percentile, return_mask=True)
            ctx.save_for_backward(torch.from_numpy(mask))
        else:
            out = _sparq.fake_quantize(wn, quant, calibration=calibration,
                                       percentile=percentile)
        return torch.from_numpy(out).to(device=w.device, dtype=w.dtype)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask.to(device=grad.device, dtype=grad.dtype), None, None, None


def _matches(pattern, name):
    return re.search(pattern, name) is not None


def _resolve(recipe, name, module):
    """The format the recipe gives the layer called name, or None to keep it.
    recipe: None (layers that carry sparq training state: QATLinear, and nn.Linear that a
    Pruner masked, each in its own format), a format string (every Linear), a dict or a
    list of (regex, format or None), first match wins (re.search, as `sparq convert
    --include` matches), a layer no entry matches is kept."""
    if recipe is None:
        if isinstance(module, QATLinear):
            return module.format
        if isinstance(module, nn.Linear) and hasattr(module, "weight_mask"):
            return _structure_word(parse_structure(getattr(module, "sparq_structure", "csr"))) \
                + "+f32"
        return None
    if isinstance(recipe, str):
        return recipe
    items = recipe.items() if isinstance(recipe, dict) else recipe
    for pattern, fmt in items:
        if _matches(pattern, name):
            return fmt
    return None


def _linears(model, types=None):
    """(name, module, parent, attribute) of every Linear-like module under model."""
    types = types or (nn.Linear, QATLinear)
    out = []
    for pname, parent in model.named_modules():
        for cname, child in parent.named_children():
            if isinstance(child, types):
                name = f"{pname}.{cname}" if pname else cname
                out.append((name, child, parent, cname))
    if isinstance(model, types):
        out.insert(0, ("", model, None, None))
    return out


def _trained_weight(module):
    """The dense float32 weights a layer is served with: QATLinear's masked latent
    weights (its format's quantizer is then applied by the packing), an nn.Linear's
    weights times its Pruner mask where it has one."""
    w = module.weight.detach()
    mask = getattr(module, "weight_mask", None)
    if mask is not None:
        w = w.masked_fill(mask == 0, 0.0)   # +0.0, as packing stores a pruned weight
    return _np_weight(w)


# ---- the served layer ------------------------------------------------------------------

_ACTIVATIONS = {None: None, "none": None, "relu": "relu", "gelu": "gelu"}


class Linear(nn.Module):
    """An nn.Linear served by sparq: the weights packed in a sparq format (a
    sparq.Packed) and uploaded once to the context's device (a sparq.Matrix); forward
    runs sparq_linear, act(x W^T + bias), on CPU float32 tensors of any leading shape
    (..., in_features) -> (..., out_features). Inference only: no gradient flows through
    it (torch.no_grad() is not needed; outputs never require grad).

    activation: None, "relu" or "gelu" (sparq's GELU is the tanh approximation, as
    F.gelu(x, approximate="tanh")), fused into the kernel's epilogue.
    .explain(batch) says which kernel runs at that batch and why."""

    def __init__(self, packed, bias=None, activation=None, context=None, name=None):
        super().__init__()
        if not isinstance(packed, _sparq.Packed):
            raise ValueError(f"packed must be a sparq.Packed, not {type(packed).__name__}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not None, 'relu' or 'gelu'")
        self.packed = packed
        self.out_features, self.in_features = packed.rows, packed.cols
        self.format = packed.format
        self.bits_per_weight = packed.bits_per_weight
        self.activation = _ACTIVATIONS[activation]
        self.name = name
        self.context = context if context is not None else default_context()
        self.matrix = self.context.matrix(packed)
        if bias is not None:
            bias = torch.as_tensor(bias).detach().to("cpu", torch.float32).reshape(-1)
            if bias.numel() != self.out_features:
                raise ValueError(f"bias has {bias.numel()} values, the layer "
                                 f"{self.out_features} outputs")
            self.register_buffer("bias", bias.clone())
        else:
            self.bias = None

    @classmethod
    def from_linear(cls, linear, format=None, context=None, activation=None, **pack_args):
        """Packs linear's weights (an nn.Linear or QATLinear) in format (the CLI's
        spelling with an optional sparsity after the structure word: "csr0.9+i8-row",
        "2:4+i4-g128", "dense+f16") and uploads them. A QATLinear is packed from its
        masked weights; format None means its own (structure of its mask + its quant), so
        the served weights equal its fake-quantized ones bit for bit. pack_args go to
        sparq.pack (calibration, percentile, prune_scope)."""
        if format is None:
            if not isinstance(linear, QATLinear):
                raise ValueError("give a format (e.g. 'csr0.9+i8-row') for an nn.Linear")
            format = linear.format
        if isinstance(linear, QATLinear) and not pack_args:
            pack_args = linear.quant_args()
        packed = _sparq.pack(_trained_weight(linear), format, **pack_args)
        return cls(packed, bias=linear.bias, activation=activation, context=context)

    def __deepcopy__(self, memo):
        """copy.deepcopy of a served layer (or of a model holding one) shares the packed
        matrix, the device matrix and the context (handles that must not be duplicated);
        the bias and the module state are copied."""
        for shared in (self.packed, self.matrix, self.context):
            memo[id(shared)] = shared
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        new.__dict__.update({k: copy.deepcopy(v, memo) for k, v in self.__dict__.items()})
        return new

    def __getstate__(self):
        raise TypeError("a sparq.torch.Linear holds device handles and cannot be pickled: "
                        "save the model with sparq.torch.export (and load the packed "
                        "matrices with sparq.load_packed)")

    def unpacked_weight(self):
        """The dequantized weights the device multiplies by (out x in float32 tensor)."""
        return torch.from_numpy(self.packed.unpack())

    def explain(self, batch=1):
        return self.matrix.explain(batch)

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x must be a torch.Tensor, not {type(x).__name__}")
        if x.device.type != "cpu":
            raise ValueError(f"x is on {x.device}; sparq.torch.Linear takes CPU tensors")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x has shape {tuple(x.shape)}; the layer takes "
                             f"{self.in_features} input features")
        lead = x.shape[:-1]
        x2 = x.detach().reshape(-1, self.in_features)
        if x2.dtype != torch.float32:
            x2 = x2.to(torch.float32)
        n = x2.shape[0]
        if n == 0:
            return torch.zeros(*lead, self.out_features, dtype=torch.float32)
        bias = self.bias.numpy() if self.bias is not None else None
        y = self.matrix(np.ascontiguousarray(x2.numpy()), bias=bias,
                        activation=self.activation)
        return torch.from_numpy(y).reshape(*lead, self.out_features)

    def extra_repr(self):
        act = f", activation={self.activation}" if self.activation else ""
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, format={self.format}, "
                f"{self.bits_per_weight:.2f} bits/weight{act}")


# ---- quantization-aware training -------------------------------------------------------

class QATLinear(nn.Module):
    """An nn.Linear trained as sparq will serve it.

    forward: F.linear(x, fake_quant(weight * weight_mask), bias), where fake_quant is
    sparq_fake_quantize in quant (the scales, zero points, round-half-even and clamping of
    sparq_quantize; calibration looks at the nonzero weights only, as packing does), so
    the fake-quantized weights are, bit for bit, what sparq.pack(weight * mask,
    self.format) unpacks to and what sparq.torch.Linear serves.
    backward: the straight-through estimator, 0 where the weight's code was clamped
    (outside the clip range of its scale), and 0 at pruned weights.

    weight_mask (uint8 buffer, 1 = kept) is all ones until a Pruner (or the caller)
    prunes; structure names the structure the mask keeps ("csr", "bsr4x4", "2:4"; None:
    dense), which the format packs. quant: sparq's encoding spelling ("i8-row",
    "i8-tensor", "i8-g32", "i4-g128-asym", "f16", "f32"); calibration ("minmax",
    "percentile", "mse") and percentile as sparq_quant_options."""

    def __init__(self, in_features, out_features, bias=True, quant="i8-row", structure=None,
                 calibration="minmax", percentile=None, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device,
                                               dtype=dtype or torch.float32))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, device=device,
                                                 dtype=dtype or torch.float32))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("weight_mask", torch.ones(out_features, in_features,
                                                       dtype=torch.uint8, device=device))
        self.quant = quant
        self.calibration, self.percentile = calibration, percentile
        self.structure = structure
        parse_structure(structure)
        _sparq.fake_quantize(np.zeros((1, 1), np.float32), quant, calibration=calibration,
                             percentile=percentile)
        self.reset_parameters()

    def reset_parameters(self):
        """nn.Linear's initialisation."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    @classmethod
    def from_linear(cls, linear, quant="i8-row", structure=None, **kwargs):
        """A QATLinear with linear's weights and bias (copies; linear is not changed).
        A mask linear carries (weight_mask, from a Pruner) is kept."""
        q = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                quant=quant, structure=structure, device=linear.weight.device, **kwargs)
        with torch.no_grad():
            q.weight.copy_(linear.weight.detach().to(q.weight.dtype))
            if linear.bias is not None:
                q.bias.copy_(linear.bias.detach().to(q.bias.dtype))
            mask = getattr(linear, "weight_mask", None)
            if mask is not None:
                q.weight_mask.copy_(mask.to(torch.uint8))
                if structure is None:
                    q.structure = getattr(linear, "sparq_structure", "csr")
        return q

    def quant_args(self):
        """The calibration arguments sparq.pack and sparq.fake_quantize take."""
        args = {}
        if self.calibration != "minmax":
            args["calibration"] = self.calibration
        if self.percentile is not None:
            args["percentile"] = self.percentile
        return args

    @property
    def format(self):
        """The format this layer is served in: "<structure>+<quant>" ("csr+i8-row"), the
        structure of the mask (dense while nothing is pruned and no structure is set)."""
        structure = self.structure
        if structure is None and bool((self.weight_mask == 0).any()):
            structure = "csr"
        return _structure_word(parse_structure(structure)) + "+" + self.quant

    def masked_weight(self):
        """weight with the pruned positions +0.0 (not -0.0: the f16/f32 encodings keep
        the sign of zero, packing stores +0.0), differentiable (0 gradient there)."""
        return self.weight.masked_fill(self.weight_mask == 0, 0.0)

    def quantized_weight(self):
        """The fake-quantized weights (no gradient): what the layer computes with and
        what sparq serves."""
        with torch.no_grad():
            return _FakeQuantize.apply(self.masked_weight(), self.quant, self.calibration,
                                       self.percentile)

    def forward(self, x):
        w = _FakeQuantize.apply(self.masked_weight(), self.quant, self.calibration,
                                self.percentile)
        return F.linear(x, w, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, format={self.format}")


def qat(model, quant="i8-row", include=None, exclude=None, **kwargs):
    """Replaces (in place) every nn.Linear of model whose name matches include (a regex,
    re.search; None: all) and not exclude by a QATLinear.from_linear in quant; returns the
    names replaced."""
    names = []
    for name, module, parent, attr in _linears(model, (nn.Linear,)):
        if parent is None:
            raise ValueError("model is itself an nn.Linear: use QATLinear.from_linear")
        if include is not None and not _matches(include, name):
            continue
        if exclude is not None and _matches(exclude, name):
            continue
        setattr(parent, attr, QATLinear.from_linear(module, quant=quant, **kwargs))
        names.append(name)
    return names


__all__.append("qat")


# ---- gradual pruning -------------------------------------------------------------------

class Pruner:
    """Gradual pruning with sparq's schedule and masks (Zhu & Gupta 2017; TF-MOT's
    PolynomialDecay): call step() after each optimizer step.

    At steps begin_step, begin_step + frequency, ..., end_step (counted in step() calls;
    a Pruner made with begin_step 0 prunes at once at the initial sparsity) the target
    sparsity is sparq.prune_schedule_sparsity (s_t = s_f + (s_i - s_f) (1 - (t - t0) /
    (end - begin))^3) and every selected layer is pruned to it by sparq's functions, with
    its previous mask, so masks only ever lose weights (monotone):
      "unstructured" / "csr"  sparq.prune_magnitude, scope "row" (default: the same count
                              in every row) or "global" (one threshold per tensor)
      "bsrRxC" / "blocksRxC"  sparq.prune_blocks, RxC blocks by their norm ("l2", "l1")
      "N:M" ("2:4")           sparq.prune_nm: at target s_t each group of M keeps
                              M - round(s_t * M) (never fewer than N), so 2:4 goes dense
                              -> 3:4 -> 2:4; final_sparsity may be None (it is 1 - N/M)
    Masks are uint8 buffers named weight_mask on each layer (QATLinear's own; an
    nn.Linear gets one), so they are saved with state_dict. Between rounds, step()
    zeroes the pruned weights again (an optimizer's momentum or weight decay may have
    moved them); QATLinear also keeps their gradient at 0.

    Layers: every nn.Linear and QATLinear whose name matches include (regex, re.search)
    and not exclude, or the (name, module) pairs / modules given as layers. score
    (optional): callable(name, module, weights numpy) -> scores numpy of the same shape
    to rank instead of |w| (e.g. Wanda's |w| * sqrt(sum of x^2) from sparq.torch.
    calibrate); scores must be finite and >= 0, ranked as magnitudes."""

    def __init__(self, model, structure="unstructured", final_sparsity=0.5, begin_step=0,
                 end_step=1000, frequency=100, initial_sparsity=0.0, scope="row", norm="l2",
                 include=None, exclude=None, layers=None, score=None):
        self.structure = parse_structure(structure)
        if self.structure[0] == "dense":
            raise ValueError("structure 'dense' prunes nothing")
        if self.structure[0] == "nm":
            n, m = self.structure[1:]
            if not 1 <= n < m <= 16:
                raise ValueError(f"N:M {n}:{m} needs 1 <= N < M <= 16")
            implied = 1.0 - n / m
            if final_sparsity is None:
                final_sparsity = implied
            elif abs(final_sparsity - implied) > 1e-9:
                raise ValueError(f"final_sparsity {final_sparsity} differs from {n}:{m}'s "
                                 f"{implied} (give None)")
        if final_sparsity is None or not 0.0 <= final_sparsity <= 1.0:
            raise ValueError(f"final_sparsity {final_sparsity!r} is not in [0, 1]")
        if not 0.0 <= initial_sparsity <= final_sparsity:
            raise ValueError(f"initial_sparsity {initial_sparsity} is not in [0, "
                             f"final_sparsity]")
        begin_step, end_step, frequency = int(begin_step), int(end_step), int(frequency)
        if frequency < 1 or begin_step < 0 or end_step <= begin_step:
            raise ValueError("need 0 <= begin_step < end_step and frequency >= 1")
        if (end_step - begin_step) % frequency:
            raise ValueError(f"end_step - begin_step ({end_step - begin_step}) must be a "
                             f"multiple of frequency ({frequency}): the last round is at "
                             f"end_step")
        if scope not in ("row", "global"):
            raise ValueError(f"scope {scope!r} is not 'row' or 'global'")
        if norm not in ("l1", "l2"):
            raise ValueError(f"norm {norm!r} is not 'l1' or 'l2'")
        self.final_sparsity, self.initial_sparsity = float(final_sparsity), float(initial_sparsity)
        self.begin_step, self.end_step, self.frequency = begin_step, end_step, frequency
        self.scope, self.norm, self.score = scope, norm, score
        self.layers = self._select(model, layers, include, exclude)
        if not self.layers:
            raise ValueError("no layer selected")
        word = _structure_word(self.structure)
        for name, module in self.layers:
            if not hasattr(module, "weight_mask"):
                module.register_buffer("weight_mask", torch.ones_like(
                    module.weight, dtype=torch.uint8))
            if isinstance(module, QATLinear):
                module.structure = word
            else:
                module.sparq_structure = word
        self.step_count = 0
        self.sparsity = None   # the target of the last round
        self._maybe_prune()

    @staticmethod
    def _select(model, layers, include, exclude):
        if layers is not None:
            out = []
            named = {id(m): n for n, m in model.named_modules()}
            for item in layers:
                name, module = item if isinstance(item, tuple) else (named.get(id(item), ""),
                                                                     item)
                out.append((name, module))
            return out
        out = []
        for name, module, _, _ in _linears(model):
            if include is not None and not _matches(include, name):
                continue
            if exclude is not None and _matches(exclude, name):
                continue
            out.append((name, module))
        return out

    def target(self, step=None):
        """The schedule's sparsity at step (default: the current step)."""
        step = self.step_count if step is None else step
        return _sparq.prune_schedule_sparsity(
            step, final_sparsity=self.final_sparsity, initial_sparsity=self.initial_sparsity,
            start_step=self.begin_step,
            num_steps=(self.end_step - self.begin_step) // self.frequency,
            step_interval=self.frequency)

    def is_round(self, step=None):
        step = self.step_count if step is None else step
        return (self.begin_step <= step <= self.end_step
                and (step - self.begin_step) % self.frequency == 0)

    def step(self):
        """Call after each optimizer step: counts it, prunes when it is a round, and
        zeroes the pruned weights. Returns the round's target sparsity, or None."""
        self.step_count += 1
        s = self._maybe_prune()
        self.apply_masks()
        return s

    def _maybe_prune(self):
        if not self.is_round():
            return None
        s = self.target()
        self.sparsity = s
        for name, module in self.layers:
            self._prune_layer(module, s)
        self.apply_masks()
        return s

    def _prune_layer(self, module, s):
        prev = module.weight_mask.detach().cpu().numpy().astype(np.uint8)
        w = _trained_weight(module)
        ranked = w
        if self.score is not None:
            ranked = np.ascontiguousarray(np.asarray(self.score(self._name_of(module),
                                                                module, w), np.float32))
            if ranked.shape != w.shape:
                raise ValueError(f"score returned shape {ranked.shape}, the weights {w.shape}")
        kind = self.structure[0]
        if kind == "csr":
            mask = _sparq.prune_magnitude(ranked, s, scope=self.scope, previous_mask=prev)
        elif kind == "bsr":
            mask = _sparq.prune_blocks(ranked, self.structure[1], self.structure[2], s,
                                       norm=self.norm, previous_mask=prev)
        else:
            n, m = self.structure[1:]
            pruned = min(int(math.floor(s * m + 0.5)), m - n)
            if pruned <= 0:
                return
            mask = _sparq.prune_nm(ranked, m - pruned, m, previous_mask=prev)
        mask = mask & prev   # monotone by sparq's rule; kept explicit
        module.weight_mask.copy_(torch.from_numpy(mask).to(module.weight_mask.device))

    def _name_of(self, module):
        for name, m in self.layers:
            if m is module:
                return name
        return ""

    @torch.no_grad()
    def apply_masks(self):
        """Zeroes every pruned weight (weight *= weight_mask)."""
        for _, module in self.layers:
            module.weight.masked_fill_(module.weight_mask == 0, 0.0)

    def sparsities(self):
        """{layer name: fraction of weights pruned by its mask}."""
        return {name: 1.0 - float(module.weight_mask.float().mean())
                for name, module in self.layers}

    def state_dict(self):
        return {"step_count": self.step_count, "sparsity": self.sparsity}

    def load_state_dict(self, state):
        self.step_count = int(state["step_count"])
        self.sparsity = state.get("sparsity")


# ---- converting a model ----------------------------------------------------------------

def convert(model, recipe=None, context=None, fuse_activations=True, **pack_args):
    """Replaces, in place, every Linear of model that recipe selects by a
    sparq.torch.Linear in the recipe's format, and returns the per-layer report: a list
    of {"name", "format", "bits_per_weight", "nmse", "rows", "cols"} (format as packed;
    nmse is the weight NMSE of the served weights against the layer's float weights,
    unmasked; QAT layers also carry "exact": whether the served weights equal the QAT
    layer's fake-quantized weights bit for bit).

    recipe: a format string for every nn.Linear and QATLinear ("csr0.9+i8-row"); a dict or
    list of (regex, format or None) pairs, first match wins (re.search on the layer name;
    None keeps the layer; a layer no entry matches is kept); or None: every QATLinear in
    its own format and every nn.Linear a Pruner masked in its structure + f32.
    fuse_activations: inside an nn.Sequential, a converted layer followed by nn.ReLU (or
    nn.GELU(approximate="tanh")) takes the activation into sparq's epilogue and the
    activation module becomes nn.Identity. pack_args go to sparq.pack."""
    report = []
    ctx = context if context is not None else default_context()
    for name, module, parent, attr in _linears(model):
        fmt = _resolve(recipe, name, module)
        if fmt is None:
            continue
        if parent is None:
            raise ValueError("model is itself a Linear: use sparq.torch.Linear.from_linear")
        args = dict(pack_args)
        if isinstance(module, QATLinear) and not args:
            args = module.quant_args()
        w = _trained_weight(module)
        packed = _sparq.pack(w, fmt, **args)
        served = Linear(packed, bias=module.bias, context=ctx, name=name)
        approx = packed.unpack()
        entry = {"name": name, "format": packed.format,
                 "bits_per_weight": packed.bits_per_weight,
                 "nmse": _nmse(_np_weight(module.weight), approx),
                 "rows": packed.rows, "cols": packed.cols}
        if isinstance(module, QATLinear):
            entry["exact"] = bool(np.array_equal(
                approx.view(np.uint32), _np_weight(module.quantized_weight()).view(np.uint32)))
        if fuse_activations and isinstance(parent, nn.Sequential):
            nxt = _next_in_sequential(parent, attr)
            if nxt is not None:
                act = _fusable(getattr(parent, nxt))
                if act is not None:
                    served.activation = act
                    setattr(parent, nxt, nn.Identity())
                    entry["activation"] = act
        setattr(parent, attr, served)
        report.append(entry)
    return report


def _next_in_sequential(seq, attr):
    keys = list(seq._modules.keys())
    i = keys.index(attr)
    return keys[i + 1] if i + 1 < len(keys) else None


def _fusable(module):
    if type(module) is nn.ReLU:
        return "relu"
    if type(module) is nn.GELU and getattr(module, "approximate", "none") == "tanh":
        return "gelu"
    return None


# ---- calibration -----------------------------------------------------------------------

def _run(model, batch, forward):
    if forward is not None:
        return forward(model, batch)
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def calibrate(model, batches, path=None, include=None, exclude=None, with_gram=True,
              prefix="", forward=None, row_filter=None):
    """Runs model on every batch (under torch.no_grad()) with forward pre-hooks on its
    Linear layers (nn.Linear, QATLinear, sparq.torch.Linear) that accumulate each layer's
    input rows (x reshaped to (-1, in_features), float32) into a sparq.Calib: X^T X
    (with_gram) and the sums of squares, in double. Writes them, when path is given, with
    sparq.save_calib under PREFIX + layer name + ".weight", the name `sparq convert
    --stats` and sparq_calib_load look up; returns {that name: sparq.Calib}.

    batches: an iterable; each item is passed as model(*item) for a tuple or list,
    model(**item) for a dict, else model(item), or forward(model, item) when given.
    include / exclude: regexes on layer names (re.search). row_filter: optional
    callable(name, x2d tensor) -> x2d tensor, e.g. to drop padding rows."""
    types = (nn.Linear, QATLinear, Linear)
    calibs, hooks = {}, []

    def hook_for(name, module):
        cols = module.in_features

        def hook(mod, inputs):
            x = inputs[0].detach().reshape(-1, cols)
            if row_filter is not None:
                x = row_filter(name, x)
            key = prefix + name + ".weight"
            if key not in calibs:
                calibs[key] = _sparq.Calib(cols, with_gram=with_gram)
            calibs[key].accumulate(np.ascontiguousarray(x.to("cpu", torch.float32).numpy()))
        return hook

    for name, module, _, _ in _linears(model, types):
        if include is not None and not _matches(include, name):
            continue
        if exclude is not None and _matches(exclude, name):
            continue
        hooks.append(module.register_forward_pre_hook(hook_for(name, module)))
    if not hooks:
        raise ValueError("no Linear layer selected")
    try:
        with torch.no_grad():
            for batch in batches:
                _run(model, batch, forward)
    finally:
        for h in hooks:
            h.remove()
    if not calibs:
        raise ValueError("no batch reached a selected layer")
    if path is not None:
        _sparq.save_calib(os.fspath(path), calibs)
    return calibs


# ---- export ----------------------------------------------------------------------------

def _tensor_numpy(name, t):
    """A state_dict tensor as save_packed takes it (bfloat16 as ("BF16", its bits))."""
    t = t.detach().to("cpu")
    if t.dtype == torch.bfloat16:
        return ("BF16", t.view(torch.int16).numpy().view(np.uint16))
    try:
        return t.numpy()
    except TypeError as e:
        raise ValueError(f"tensor {name}: dtype {t.dtype} cannot be written") from e


def export(model, path, recipe=None, prefix="", metadata=None, include_buffers=True,
           **pack_args):
    """Writes model to sparq's safetensors at path (atomically): every Linear that
    recipe selects (see convert; None: QATLinear layers and Pruner-masked nn.Linear in
    their own formats) packed as PREFIX + name + ".weight" (sparq_packed_save: the
    arrays and metadata sparq_packed_load, `sparq` and sparq.load_packed/list_packed
    read), already-served sparq.torch.Linear layers in their packed format, and every
    other tensor of state_dict() (biases, embeddings, norms; float tensors as they are)
    under PREFIX + its name. Pruning masks (weight_mask) are not written: the packed
    structure holds them. Returns the per-layer report (as convert's)."""
    packed, report, skip = {}, [], set()
    for name, module, _, _ in _linears(model, (nn.Linear, QATLinear, Linear)):
        dot = name + "." if name else ""
        if isinstance(module, Linear):
            packed[prefix + dot + "weight"] = module.packed
            report.append({"name": name, "format": module.format,
                           "bits_per_weight": module.bits_per_weight, "nmse": None,
                           "rows": module.out_features, "cols": module.in_features})
            skip.add(dot + "weight_mask")
            continue
        fmt = _resolve(recipe, name, module)
        skip.add(dot + "weight_mask")
        if fmt is None:
            continue
        args = dict(pack_args)
        if isinstance(module, QATLinear) and not args:
            args = module.quant_args()
        p = _sparq.pack(_trained_weight(module), fmt, **args)
        packed[prefix + dot + "weight"] = p
        skip.add(dot + "weight")
        report.append({"name": name, "format": p.format, "bits_per_weight": p.bits_per_weight,
                       "nmse": _nmse(_np_weight(module.weight), p.unpack()),
                       "rows": p.rows, "cols": p.cols})
    tensors = {}
    state = model.state_dict(keep_vars=False)
    buffers = {n for n, _ in model.named_buffers()}
    for key, t in state.items():
        if key in skip or key.endswith("weight_mask"):
            continue
        if not include_buffers and key in buffers:
            continue
        if (prefix + key) in packed:
            continue
        tensors[prefix + key] = t
    meta = {"format": "pt", "producer": "sparq.torch.export"}
    meta.update(metadata or {})
    _sparq.save_packed(path, packed, metadata=meta,
                       tensors={n: _tensor_numpy(n, t) for n, t in tensors.items()})
    return report
