#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bert_numpy.py - a numpy-only BERT sentence encoder for sparq's accuracy evidence.

Owns: the pure-numpy pieces that tools/eval/calibrate.py and tools/eval/eval_compression.py
share, and nothing else:
  * read_safetensors / write_safetensors: a small safetensors reader (F32/F16/BF16/F64 and
    integer dtypes) and writer (sorted header keys, string __metadata__, header padded with
    spaces to a multiple of 8, little-endian data);
  * Tokenizer: the BERT WordPiece tokenizer of a tokenizer.json (BertNormalizer: clean
    text, pad CJK characters, strip accents, lower-case; BertPreTokenizer: split on
    whitespace and punctuation; greedy longest-match-first WordPiece with "##" and [UNK];
    [CLS] ... [SEP]; truncation to 128 tokens);
  * BertEncoder: the forward of a BERT encoder (MiniLM-L6: 6 layers, hidden 384, 12 heads,
    FFN 1536, exact erf GELU, LayerNorm eps from config.json, attention mask over the
    padding) followed by mean pooling over the tokens and L2 normalisation, as
    sentence-transformers runs all-MiniLM-L6-v2. The weights are a dict name -> float32
    array, so one code runs the original and a compressed model. A capture hook receives
    every Linear layer's input rows (tokens x in_features, padding excluded) keyed by the
    weight tensor's name in the file;
  * split_sentences: the calibration / held-out split of tools/eval/calib_text.txt;
  * make_tiny: a tiny random BERT-shaped model directory (tests/eval_test.sh).

Run:
  /usr/bin/python3 tools/eval/bert_numpy.py MODEL_DIR "sentence one" "sentence two" ...
      prints the tokens of each sentence and the cosine matrix of their embeddings
  /usr/bin/python3 tools/eval/bert_numpy.py --make-tiny DIR [--seed N]
      writes DIR/{model.safetensors,config.json,tokenizer.json,1_Pooling/config.json}
MODEL_DIR holds model.safetensors, config.json and tokenizer.json (scripts/fetch_minilm.sh
fetches all-MiniLM-L6-v2 so). Needs only numpy.
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import unicodedata

import numpy as np

# ---------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------

DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"), "I8": np.dtype("i1"), "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("u1"),
}
DTYPE_NAMES = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16",
               np.dtype("<i8"): "I64", np.dtype("<i4"): "I32", np.dtype("<i2"): "I16",
               np.dtype("i1"): "I8", np.dtype("<u8"): "U64", np.dtype("<u4"): "U32",
               np.dtype("<u2"): "U16", np.dtype("u1"): "U8"}


class SafeTensors:
    """A safetensors file read at once: .header (name -> info), .metadata (str -> str),
    .raw(name) the stored array (BF16 as uint16), .f32(name) a float32 copy."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", data[:8])
        if 8 + n > len(data):
            raise ValueError(f"{path}: header length {n} past the end of the file")
        header = json.loads(data[8:8 + n].decode("utf-8"))
        self.path = path
        self.metadata = header.pop("__metadata__", None) or {}
        self.header = header
        self._data = memoryview(data)[8 + n:]

    def names(self):
        return list(self.header)

    def raw(self, name):
        info = self.header[name]
        if info["dtype"] not in DTYPES:
            raise ValueError(f"{self.path}: tensor {name} has unsupported dtype {info['dtype']}")
        dt = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if end - begin != count * dt.itemsize or end > len(self._data):
            raise ValueError(f"{self.path}: tensor {name} has {end - begin} bytes for shape {shape}")
        return np.frombuffer(self._data[begin:end], dtype=dt).reshape(shape)

    def f32(self, name):
        dtype = self.header[name]["dtype"]
        a = self.raw(name)
        if dtype == "BF16":
            return (a.astype(np.uint32) << 16).view(np.float32)
        return a.astype(np.float32)


def read_safetensors(path):
    """(dict name -> array as stored (BF16 as float32), metadata dict)."""
    st = SafeTensors(path)
    out = {}
    for name in st.names():
        out[name] = st.f32(name) if st.header[name]["dtype"] == "BF16" else st.raw(name)
    return out, dict(st.metadata)


def load_float_weights(path):
    """The floating-point tensors of a safetensors file as float32 arrays (others skipped)."""
    st = SafeTensors(path)
    return {n: st.f32(n) for n in st.names() if st.header[n]["dtype"] in ("F64", "F32", "F16", "BF16")}


def write_safetensors(path, tensors, metadata=None):
    """Writes tensors (name -> numpy array; float64/32/16 and integer dtypes) with string
    metadata. Keys are sorted, data little-endian in key order, the header padded with
    spaces to a multiple of 8. Written to PATH.tmp first, then renamed."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in DTYPE_NAMES:
            raise ValueError(f"tensor {name}: dtype {a.dtype} cannot be written")
        b = np.ascontiguousarray(a, dtype=dt).tobytes()
        header[name] = {"dtype": DTYPE_NAMES[dt], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# tokenizer
# ---------------------------------------------------------------------------------------

def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf", "Cn", "Co")


def _is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


class Tokenizer:
    """BERT WordPiece tokenizer from a Hugging Face tokenizer.json."""

    def __init__(self, path, max_length=None):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        model = tj["model"]
        if model.get("type") != "WordPiece":
            raise ValueError(f"{path}: model type {model.get('type')}, expected WordPiece")
        self.vocab = dict(model["vocab"])
        self.unk = model.get("unk_token", "[UNK]")
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_chars = int(model.get("max_input_chars_per_word", 100))
        norm = tj.get("normalizer") or {}
        self.clean_text = norm.get("clean_text", True)
        self.chinese = norm.get("handle_chinese_chars", True)
        self.lowercase = norm.get("lowercase", True)
        strip = norm.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else bool(strip)
        trunc = tj.get("truncation") or {}
        self.max_length = int(max_length or trunc.get("max_length") or 128)
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.pad_id = self.vocab.get("[PAD]", 0)
        self.unk_id = self.vocab[self.unk]
        specials = [t["content"] for t in tj.get("added_tokens", []) if t.get("special")]
        specials.sort(key=len, reverse=True)
        self.special_ids = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
        self._special_re = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")") if specials else None
        self.inv_vocab = {i: t for t, i in self.vocab.items()}

    def _normalize(self, text):
        out = []
        for c in text:
            cp = ord(c)
            if self.clean_text:
                if cp == 0 or cp == 0xFFFD or _is_control(c):
                    continue
                if _is_whitespace(c):
                    out.append(" ")
                    continue
            if self.chinese and _is_cjk(cp):
                out.append(" " + c + " ")
            else:
                out.append(c)
        text = "".join(out)
        if self.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text)
                           if unicodedata.category(c) != "Mn")
        if self.lowercase:
            text = text.lower()
        return text

    def _pretokenize(self, text):
        words, cur = [], []
        for c in text:
            if _is_whitespace(c):
                if cur:
                    words.append("".join(cur))
                    cur = []
            elif _is_punctuation(c):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(c)
            else:
                cur.append(c)
        if cur:
            words.append("".join(cur))
        return words

    def _wordpiece(self, word):
        if len(word) > self.max_chars:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end]
                if start > 0:
                    piece = self.prefix + piece
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
        return ids

    def encode(self, text):
        """Token ids [CLS] ... [SEP], at most max_length of them."""
        parts = self._special_re.split(text) if self._special_re else [text]
        ids = []
        for i, part in enumerate(parts):
            if i % 2 == 1:  # a special token written in the text
                ids.append(self.special_ids[part])
                continue
            for word in self._pretokenize(self._normalize(part)):
                ids.extend(self._wordpiece(word))
        ids = ids[:self.max_length - 2]
        return [self.cls_id] + ids + [self.sep_id]

    def tokens(self, text):
        return [self.inv_vocab.get(i, "?") for i in self.encode(text)]


# ---------------------------------------------------------------------------------------
# the encoder
# ---------------------------------------------------------------------------------------

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
# Maclaurin series of erf: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)).
_ERF_TERMS = 64
_ERF_COEF = np.array([(-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(_ERF_TERMS)])


def _erf_series(xs, terms):
    t = xs * xs
    acc = np.full_like(t, _ERF_COEF[terms - 1])
    for c in _ERF_COEF[terms - 2::-1]:
        acc *= t
        acc += c
    return _TWO_OVER_SQRT_PI * xs * acc


def erf(x):
    """erf of a float array, in float64 (|error| < 1e-11 against math.erf): the Maclaurin
    series (Horner in x^2; 36 terms for |x| <= 2, 64 for |x| <= 3.5), and 1 - erfc with
    erfc's asymptotic expansion (relative error < 1e-8, erfc(3.5) = 7e-7) beyond."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    a = np.abs(x)
    small = a <= 2.0
    out[small] = _erf_series(x[small], 36)
    mid = (a > 2.0) & (a <= 3.5)
    if mid.any():
        out[mid] = _erf_series(x[mid], _ERF_TERMS)
    big = a > 3.5
    if big.any():
        xb = a[big]
        inv = 1.0 / (2.0 * xb * xb)
        series = np.ones_like(xb)
        term = np.ones_like(xb)
        for n in range(1, 12):  # 1 - 1/(2x^2) + 3/(2x^2)^2 - 15/(2x^2)^3 ...
            term = term * (-(2 * n - 1) * inv)
            series += term
        erfc = np.exp(-xb * xb) / (xb * math.sqrt(math.pi)) * series
        out[big] = np.sign(x[big]) * (1.0 - erfc)
    return out


def gelu(x):
    """Exact GELU x * Phi(x) = x/2 (1 + erf(x / sqrt 2)), as BERT's "gelu"; float32 out."""
    return (0.5 * x * (1.0 + erf(x.astype(np.float64) * _SQRT1_2))).astype(np.float32)


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return (xc / np.sqrt(var + eps)) * w + b


def find_prefix(weights):
    """The prefix of the BERT tensor names ("", "bert.", "0.", ...)."""
    for name in weights:
        if name.endswith("embeddings.word_embeddings.weight"):
            return name[:-len("embeddings.word_embeddings.weight")]
    raise ValueError("no tensor named [PREFIX]embeddings.word_embeddings.weight")


def linear_weight_names(weights, config):
    """The Linear weight names of the encoder, in the order the forward uses them."""
    p = find_prefix(weights)
    names = []
    for i in range(config["num_hidden_layers"]):
        lp = f"{p}encoder.layer.{i}."
        names += [lp + "attention.self.query.weight", lp + "attention.self.key.weight",
                  lp + "attention.self.value.weight", lp + "attention.output.dense.weight",
                  lp + "intermediate.dense.weight", lp + "output.dense.weight"]
    return names


class BertEncoder:
    """BERT encoder + mean pooling + L2 normalisation (sentence-transformers' pipeline for
    all-MiniLM-L6-v2: modules Transformer, Pooling(mean), Normalize).

    weights: dict name -> float32 array (names as in the model file, any prefix).
    capture: optional callable(name, x) receiving each Linear layer's input rows
             (float32, tokens x in_features, padding tokens excluded; every call covers
             one batch), name = the weight tensor's name."""

    def __init__(self, config, weights, capture=None):
        self.cfg = config
        self.w = weights
        self.capture = capture
        self.p = find_prefix(weights)
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act {config.get('hidden_act')}: only exact 'gelu' is implemented")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are implemented")

    def _linear(self, name, x):
        """x: (rows, in) float32 (real tokens only) -> x W^T + b."""
        w = self.w[name + ".weight"]
        if self.capture is not None:
            self.capture(name + ".weight", x)
        y = x @ w.T
        b = self.w.get(name + ".bias")
        return y + b if b is not None else y

    def embed_batch(self, batch_ids):
        """Token embeddings (rows of all sentences' real tokens, concatenated) and lengths."""
        p, w = self.p, self.w
        lengths = np.array([len(ids) for ids in batch_ids])
        ids = np.concatenate([np.asarray(i, dtype=np.int64) for i in batch_ids])
        pos = np.concatenate([np.arange(n) for n in lengths])
        x = (w[p + "embeddings.word_embeddings.weight"][ids]
             + w[p + "embeddings.position_embeddings.weight"][pos]
             + w[p + "embeddings.token_type_embeddings.weight"][np.zeros_like(ids)])
        x = layer_norm(x.astype(np.float32), w[p + "embeddings.LayerNorm.weight"],
                       w[p + "embeddings.LayerNorm.bias"], self.eps)
        return x.astype(np.float32), lengths

    def _attention(self, lp, x, lengths):
        """Multi-head self-attention; x holds the packed real tokens (rows, hidden). Padded
        to (batch, L) inside, with the padding keys masked out as BERT's attention mask."""
        q = self._linear(lp + "attention.self.query", x)
        k = self._linear(lp + "attention.self.key", x)
        v = self._linear(lp + "attention.self.value", x)
        B, L, H, nh = len(lengths), int(lengths.max()), self.hidden, self.heads
        hd = H // nh
        mask = np.arange(L)[None, :] < lengths[:, None]          # (B, L) real tokens

        def pad(t):
            out = np.zeros((B, L, H), dtype=np.float32)
            out[mask] = t
            return out.reshape(B, L, nh, hd).transpose(0, 2, 1, 3)  # (B, nh, L, hd)

        qp, kp, vp = pad(q), pad(k), pad(v)
        scores = (qp @ kp.transpose(0, 1, 3, 2)) / np.float32(math.sqrt(hd))  # (B, nh, L, L)
        scores = np.where(mask[:, None, None, :], scores, np.float32(np.finfo(np.float32).min))
        scores = scores - scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        probs = e / e.sum(axis=-1, keepdims=True)
        ctx = (probs @ vp).transpose(0, 2, 1, 3).reshape(B, L, H)[mask]  # back to packed rows
        out = self._linear(lp + "attention.output.dense", ctx.astype(np.float32))
        return layer_norm(out + x, self.w[lp + "attention.output.LayerNorm.weight"],
                          self.w[lp + "attention.output.LayerNorm.bias"], self.eps)

    def _layer(self, i, x, lengths):
        lp = f"{self.p}encoder.layer.{i}."
        x = self._attention(lp, x, lengths)
        h = gelu(self._linear(lp + "intermediate.dense", x))
        out = self._linear(lp + "output.dense", h)
        return layer_norm(out + x, self.w[lp + "output.LayerNorm.weight"],
                          self.w[lp + "output.LayerNorm.bias"], self.eps).astype(np.float32)

    def token_states(self, batch_ids):
        """Last hidden states of the real tokens (packed rows) and the lengths."""
        x, lengths = self.embed_batch(batch_ids)
        for i in range(int(self.cfg["num_hidden_layers"])):
            x = self._layer(i, x, lengths)
        return x, lengths

    def embed(self, batch_ids, normalize=True):
        """Sentence embeddings (batch, hidden): mean over each sentence's tokens ([CLS] and
        [SEP] included, padding not), then L2-normalised."""
        x, lengths = self.token_states(batch_ids)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        pooled = np.add.reduceat(x.astype(np.float64), starts, axis=0) / lengths[:, None]
        if normalize:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)


def encode_sentences(encoder, tokenizer, sentences, batch=32):
    """Embeddings of sentences (len(sentences), hidden), batch sentences per forward."""
    out = []
    for s in range(0, len(sentences), batch):
        out.append(encoder.embed([tokenizer.encode(t) for t in sentences[s:s + batch]]))
    return np.concatenate(out) if out else np.zeros((0, encoder.hidden), np.float32)


# ---------------------------------------------------------------------------------------
# model directories and the text file
# ---------------------------------------------------------------------------------------

def model_paths(model):
    """(safetensors path, directory with config.json and tokenizer.json) of a model given
    as a directory or as its .safetensors file."""
    if os.path.isdir(model):
        return os.path.join(model, "model.safetensors"), model
    return model, os.path.dirname(os.path.abspath(model))


def load_model(model, max_length=None):
    """(config dict, float32 weights dict, Tokenizer) of a model directory or file."""
    st_path, d = model_paths(model)
    with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    pool = os.path.join(d, "1_Pooling", "config.json")
    if os.path.exists(pool):
        with open(pool, encoding="utf-8") as f:
            pc = json.load(f)
        if not pc.get("pooling_mode_mean_tokens", False) or any(
                pc.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                    "pooling_mode_mean_sqrt_len_tokens")):
            raise ValueError(f"{pool}: only mean pooling is implemented")
    return config, load_float_weights(st_path), Tokenizer(os.path.join(d, "tokenizer.json"), max_length)


HELD_OUT = 40


def split_sentences(path, held_out=HELD_OUT):
    """(calibration, held_out) sentences of a text file: one sentence a line, lines
    starting with '#' and blank lines skipped; the last held_out sentences are held out,
    all before them are calibration."""
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f]
    sents = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(sents) <= held_out:
        raise ValueError(f"{path}: {len(sents)} sentences, need more than {held_out}")
    return sents[:-held_out], sents[-held_out:]


# ---------------------------------------------------------------------------------------
# a tiny random model for tests
# ---------------------------------------------------------------------------------------

def make_tiny(directory, seed=0, layers=2, hidden=32, heads=4, ffn=64):
    """Writes a tiny random BERT-shaped model (a pooler included, which the forward does not
    use) with a made-up WordPiece vocabulary: specials, a-z, 0-9, punctuation, their "##"
    forms (so every ASCII word tokenizes) and a few hundred random 2-4 letter pieces."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(directory, "1_Pooling"), exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    singles = list(letters) + list("0123456789") + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    vocab += singles + ["##" + c for c in letters + "0123456789"]
    seen = set(vocab)
    while len(vocab) < 400:
        n = int(rng.integers(2, 5))
        piece = "".join(rng.choice(list(letters), n))
        if rng.random() < 0.4:
            piece = "##" + piece
        if piece not in seen:
            seen.add(piece)
            vocab.append(piece)
    tok = {
        "version": "1.0",
        "truncation": {"max_length": 128, "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for i, t in enumerate(vocab[:5])],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(vocab)}},
    }
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
              "hidden_size": hidden, "intermediate_size": ffn, "num_attention_heads": heads,
              "num_hidden_layers": layers, "layer_norm_eps": 1e-12, "max_position_embeddings": 128,
              "type_vocab_size": 2, "vocab_size": len(vocab), "pad_token_id": 0,
              "position_embedding_type": "absolute"}
    pooling = {"word_embedding_dimension": hidden, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False}

    def rnd(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {"embeddings.word_embeddings.weight": rnd(len(vocab), hidden, scale=0.5),
         "embeddings.position_embeddings.weight": rnd(128, hidden, scale=0.1),
         "embeddings.token_type_embeddings.weight": rnd(2, hidden, scale=0.1),
         "embeddings.LayerNorm.weight": 1 + rnd(hidden, scale=0.05),
         "embeddings.LayerNorm.bias": rnd(hidden, scale=0.05),
         "pooler.dense.weight": rnd(hidden, hidden), "pooler.dense.bias": rnd(hidden, scale=0.05)}
    for i in range(layers):
        lp = f"encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            w[lp + n + ".weight"] = rnd(hidden, hidden)
            w[lp + n + ".bias"] = rnd(hidden, scale=0.05)
        w[lp + "intermediate.dense.weight"] = rnd(ffn, hidden)
        w[lp + "intermediate.dense.bias"] = rnd(ffn, scale=0.05)
        w[lp + "output.dense.weight"] = rnd(hidden, ffn, scale=0.15)
        w[lp + "output.dense.bias"] = rnd(hidden, scale=0.05)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[lp + n + ".weight"] = 1 + rnd(hidden, scale=0.05)
            w[lp + n + ".bias"] = rnd(hidden, scale=0.05)
    write_safetensors(os.path.join(directory, "model.safetensors"), w, {"format": "pt"})
    for name, obj in (("tokenizer.json", tok), ("config.json", config),
                      (os.path.join("1_Pooling", "config.json"), pooling)):
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-tiny", metavar="DIR", help="write a tiny random model to DIR and exit")
    ap.add_argument("--seed", type=int, default=0, help="seed of --make-tiny (default 0)")
    ap.add_argument("model", nargs="?", help="model directory or .safetensors file")
    ap.add_argument("sentences", nargs="*")
    a = ap.parse_args(argv)
    if a.make_tiny:
        make_tiny(a.make_tiny, seed=a.seed)
        print(f"wrote a tiny random model to {a.make_tiny}")
        return 0
    if not a.model or not a.sentences:
        ap.error("give a model and at least one sentence (or --make-tiny DIR)")
    config, weights, tok = load_model(a.model)
    enc = BertEncoder(config, weights)
    for s in a.sentences:
        print(" ".join(tok.tokens(s)))
    e = encode_sentences(enc, tok, a.sentences)
    cos = e @ e.T
    np.set_printoptions(precision=4, suppress=True, linewidth=150)
    print(cos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
