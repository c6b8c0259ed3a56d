#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# convert_test.sh SPARQ TEST_CONVERT - `sparq convert` as a user meets it, on a small model
# written here with numpy: the gate rolls back exactly the layer it should, untouched
# tensors are byte-identical, the output loads back (an independent reader and sparq's
# own), hostile inputs each give a clear error and leave no output or report behind, and
# an OUT that exists is replaced only when it is a regular file and --force is given.
# Then a sharded Hugging Face layout (tests/model_layout.py: 4 shards, mixed dtypes with
# F64, BOOL and I64, a 4-D convolution): --keep-split writes the same layout (checked by
# an independent reader), the same bytes for --threads 1 and 2, --tensor-type rules and
# the output projection's default, and hostile layouts refused leaving nothing behind.
set -uo pipefail
sparq="$1"
test_convert="$2"
python="${SPARQ_PYTHON:-python3}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

expect() { # expect DESCRIPTION WANTED_RC PATTERN -- command...
  local what="$1" want_rc="$2" pattern="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [ "$rc" -ne "$want_rc" ]; then
    echo "FAIL: $what: exit $rc, expected $want_rc"; echo "$out" | tail -8
    failures=$((failures + 1)); return
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: $what: output lacks /$pattern/"; echo "$out" | tail -8
    failures=$((failures + 1)); return
  fi
  echo "ok: $what"
}

absent() { # absent DESCRIPTION PATH...: no output, no report, no temporary file left
  local what="$1"; shift
  for p in "$@"; do
    if compgen -G "$p*" >/dev/null; then
      echo "FAIL: $what: left $(compgen -G "$p*" | head -3 | tr '\n' ' ')"
      failures=$((failures + 1)); return
    fi
  done
  echo "ok: $what leaves nothing"
}

# A small transformer-like model: a Gaussian layer (fails NMSE 0.05 at 90% sparsity), a
# layer already 90% zero (passes), a BF16 layer already 90% zero, and tensors the default
# selection leaves alone (embedding, norm, bias, 1-D, integer ids), plus metadata.
"$python" - "$work/model.safetensors" <<'EOF' || { echo "FAIL: fixture"; exit 1; }
import json, struct, sys
import numpy as np
rng = np.random.default_rng(7)
def sparse(shape):
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) < 0.9] = 0.0
    return w
bf16_src = sparse((32, 64))
tensors = {
    "model.embed_tokens.weight": ("F32", rng.standard_normal((100, 64)).astype(np.float32)),
    "layers.0.mlp.up.weight": ("F32", rng.standard_normal((128, 64)).astype(np.float32)),
    "layers.0.mlp.down.weight": ("F32", sparse((64, 128))),
    "layers.0.attn.q.weight": ("BF16", (bf16_src.view(np.uint32) >> 16).astype(np.uint16)),
    "layers.0.input_layernorm.weight": ("F32", np.ones(64, np.float32)),
    "layers.0.attn.q.bias": ("F16", rng.standard_normal(32).astype(np.float16)),
    "position_ids": ("I64", np.arange(5, dtype=np.int64)),
}
header, blobs, pos = {"__metadata__": {"format": "pt", "source": "convert_test"}}, [], 0
for name, (dtype, arr) in tensors.items():
    b = arr.tobytes()
    header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [pos, pos + len(b)]}
    blobs.append(b)
    pos += len(b)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
EOF

model="$work/model.safetensors"
out="$work/out.safetensors"
expect "help lists the options" 0 "--max-nmse" -- "$sparq" convert --help
expect "convert runs" 0 "total: .* compression" -- \
  "$sparq" convert --sparsity 0.9 --structure csr --quant i8-row --max-nmse 0.05 "$model" "$out"
"$sparq" convert --force --sparsity 0.9 --structure csr --quant i8-row --max-nmse 0.05 \
  "$model" "$out" >"$work/table.txt" 2>"$work/progress.txt"
expect "the table rolls back the Gaussian layer" 0 "layers\.0\.mlp\.up\.weight .* yes \(" -- \
  cat "$work/table.txt"
expect "the table keeps the sparse layer" 0 "mlp\.down\.weight .*csr\+i8-row .* no$" -- \
  cat "$work/table.txt"
expect "progress is on stderr" 0 "3/3 " -- cat "$work/progress.txt"

# Gate decisions from the report; copied tensors byte-identical; both readers accept it.
expect "report and output check out" 0 "^checked$" -- "$python" - "$model" "$out" "$here" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[3])
from read_safetensors import load
in_meta, ins = load(sys.argv[1])
out_meta, outs = load(sys.argv[2])
report = json.load(open(sys.argv[2] + ".report.json"))
layers = {l["name"]: l for l in report["layers"]}
want = {"layers.0.mlp.up.weight", "layers.0.mlp.down.weight", "layers.0.attn.q.weight"}
assert set(layers) == want, sorted(layers)
rolled = sorted(n for n, l in layers.items() if l["rolled_back"])
assert rolled == ["layers.0.mlp.up.weight"], rolled
assert layers["layers.0.mlp.up.weight"]["trail"].startswith("csr+i8-row s=0.90: NMSE ")
for n, l in layers.items():
    assert l["nmse"] <= 0.05, (n, l["nmse"])
    st = out_meta[n + ".structure"]
    assert st == l["format"]["structure"], (n, st)
    assert n + ".values" in outs and n not in outs
copied = [c["name"] for c in report["copied"]]
assert sorted(copied) == sorted(set(ins) - want), copied
for n in copied:
    a, b = ins[n], outs[n]
    assert a[0] == b[0] and a[1] == b[1], n
    assert a[2].tobytes() == b[2].tobytes(), n
for k, v in in_meta.items():
    assert out_meta[k] == v, k
t = report["totals"]
assert t["layers_converted"] == 3 and t["layers_rolled_back"] == 1 and t["tensors_copied"] == 4
assert t["bytes_after"] < t["bytes_before"]
print("checked")
EOF
expect "an independent reader opens the output" 0 "tensor layers.0.mlp.down.weight.values" -- \
  "$python" "$here/read_safetensors.py" "$out"
expect "sparq loads every converted layer back" 0 "PASSED.*1 test" -- \
  env SPARQ_CONVERT_FILE="$out" SPARQ_CONVERT_LAYERS=3 SPARQ_TEST_FILTER=cli_output_loads_back \
  "$test_convert"

# --include replaces the default selection; --exclude removes from it.
expect "include converts the embedding too" 0 "model\.embed_tokens\.weight" -- \
  "$sparq" convert --include 'embed|mlp' --exclude down --max-nmse 0.5 "$model" "$work/inc.safetensors"
expect "exclude leaves a layer alone" 0 "^1 layers converted" -- \
  "$sparq" convert --force --include 'embed|mlp' --exclude 'down|embed' "$model" "$work/inc.safetensors"
expect "other structures and encodings" 0 "2:4\+i4-g32" -- \
  "$sparq" convert --structure 2:4 --quant i4-g32 --calib mse --max-nmse 0.9 "$model" "$work/nm.safetensors"
expect "bsr and an SQNR gate" 0 "bsr4x4\+f16" -- \
  "$sparq" convert --structure bsr4x4 --quant f16 --min-sqnr 10 "$model" "$work/bsr.safetensors"

# Hostile inputs: a clear sentence, a non-zero exit, and nothing left behind.
# Activation-aware methods with calibration statistics of the three converted layers
# (written here with numpy in sparq's layout, sparq.h "Calibration statistics").
stats="$work/stats.safetensors"
"$python" - "$model" "$stats" "$here" <<'PY' || { echo "FAIL: statistics fixture"; failures=$((failures + 1)); }
import json, struct, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from read_safetensors import load
_, tensors = load(sys.argv[1])
rng = np.random.default_rng(11)
out, meta = {}, {"sparq_calib": "1"}
for name in ("layers.0.mlp.up.weight", "layers.0.mlp.down.weight", "layers.0.attn.q.weight"):
    k = tensors[name][1][1]
    x = rng.standard_normal((4 * k, k)) @ (np.eye(k) + 0.3 * rng.standard_normal((k, k)))
    x[:, :3] *= 8.0  # a few outlier channels
    g = x.T @ x
    g = (g + g.T) / 2
    out[name + ".calib_gram"] = g
    out[name + ".calib_sumsq"] = np.diag(g).copy()
    meta[name + ".calib_rows"] = str(4 * k)
header, blobs, pos = {"__metadata__": meta}, [], 0
for name in sorted(out):
    b = out[name].astype("<f8").tobytes()
    header[name] = {"dtype": "F64", "shape": list(out[name].shape), "data_offsets": [pos, pos + len(b)]}
    blobs.append(b)
    pos += len(b)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
PY
for method in wanda gptq sparsegpt; do
  expect "--method $method converts with statistics" 0 "total: .* compression" -- \
    "$sparq" convert --method "$method" --stats "$stats" --structure 2:4 --quant i4-g32 \
    --max-nmse 0.5 --force "$model" "$work/m.safetensors"
done
"$sparq" convert --force --method gptq --stats "$stats" --structure dense --quant i4-g32 \
  --max-nmse 0.5 "$model" "$work/m.safetensors" >"$work/m.txt" 2>&1
expect "the table shows the output error" 0 "NMSE_out" -- cat "$work/m.txt"
expect "gptq beats rtn on the outputs" 0 "^better$" -- "$python" - "$sparq" "$model" "$stats" "$work" <<'PY'
import json, subprocess, sys
sparq, model, stats, work = sys.argv[1:5]
err = {}
for m in ("rtn", "gptq"):
    subprocess.run([sparq, "convert", "--force", "--method", m, "--stats", stats, "--structure", "dense",
                    "--quant", "i4-g32", "--max-nmse", "0", model, work + "/g.safetensors"],
                   check=True, capture_output=True)
    r = json.load(open(work + "/g.safetensors.report.json"))
    assert r["options"]["method"] == m and r["options"]["gate"] == "auto"
    err[m] = {l["name"]: l["output_nmse"] for l in r["layers"]}
    assert all(l["nmse"] > 0 and l["seconds"] >= 0 for l in r["layers"])
assert all(err["gptq"][n] < err["rtn"][n] for n in err["rtn"]), err
print("better")
PY
expect "a recipe no layer passes ends with a warning" 0 "unsuitable for this model" -- \
  "$sparq" convert --method gptq --stats "$stats" --structure 2:4 --quant i4-g32 \
  --max-nmse 1e-12 --include up --force "$model" "$work/m.safetensors"
expect "gptq without statistics" 2 "--method gptq needs --stats" -- \
  "$sparq" convert --method gptq "$model" "$work/m.safetensors"
expect "an unknown method" 2 "--method 'obs' is not" -- \
  "$sparq" convert --method obs --stats "$stats" "$model" "$work/m.safetensors"
expect "act-order is gptq's" 2 "--act-order is for --method gptq" -- \
  "$sparq" convert --method sparsegpt --act-order --stats "$stats" "$model" "$work/m.safetensors"
expect "a layer without statistics" 1 "no calibration statistics for 'model.embed_tokens.weight'" -- \
  "$sparq" convert --method gptq --stats "$stats" --include embed "$model" "$work/ns.safetensors"
absent "a layer without statistics" "$work/ns.safetensors"
expect "statistics that are not a file" 1 "reading the statistics" -- \
  "$sparq" convert --method gptq --stats "$work/none.safetensors" "$model" "$work/ns.safetensors"
expect "statistics of another model" 1 "SPARQ_ERROR_INVALID_FORMAT" -- \
  "$sparq" convert --method gptq --stats "$model" "$model" "$work/ns.safetensors"
absent "bad statistics" "$work/ns.safetensors"

bad="$work/bad.safetensors"
expect "missing input" 1 "cannot open: No such file" -- "$sparq" convert "$work/none.safetensors" "$bad"
absent "missing input" "$bad"
printf 'this is not a safetensors file, just some text\n' >"$work/text.safetensors"
expect "not a safetensors file" 1 "SPARQ_ERROR_INVALID_FORMAT" -- "$sparq" convert "$work/text.safetensors" "$bad"
absent "not a safetensors file" "$bad"
head -c 5000 "$model" >"$work/truncated.safetensors"
expect "truncated file" 1 "SPARQ_ERROR_INVALID_FORMAT" -- "$sparq" convert "$work/truncated.safetensors" "$bad"
absent "truncated file" "$bad"
expect "unknown --quant" 2 "--quant 'i3-row' is not" -- "$sparq" convert --quant i3-row "$model" "$bad"
absent "unknown --quant" "$bad"
expect "unknown --structure" 2 "--structure 'bsr3x3' is not" -- "$sparq" convert --structure bsr3x3 "$model" "$bad"
expect "unknown --calib" 2 "--calib 'best' is not" -- "$sparq" convert --calib best "$model" "$bad"
expect "bad --sparsity" 2 "--sparsity '1.5' is not" -- "$sparq" convert --sparsity 1.5 "$model" "$bad"
expect "bad regex" 2 "not a valid regular expression" -- "$sparq" convert --include '(' "$model" "$bad"
expect "unknown option" 2 "unknown option '--frob'" -- "$sparq" convert --frob "$model" "$bad"
expect "missing value" 2 "--quant needs a value" -- "$sparq" convert "$model" "$bad" --quant
expect "missing operand" 2 "expected IN and OUT" -- "$sparq" convert "$model"
absent "usage errors" "$bad"
expect "unwritable output folder" 1 "cannot write /nonexistent/dir/out.safetensors" -- \
  "$sparq" convert "$model" /nonexistent/dir/out.safetensors
expect "no-rollback and a failing layer" 1 "layers\.0\.mlp\.up\.weight.*gate failed: NMSE" -- \
  "$sparq" convert --sparsity 0.9 --no-rollback "$model" "$bad"
absent "no-rollback and a failing layer" "$bad"
mkdir -p "$bad.report.json"   # the report cannot be written: refused before any work
expect "a folder at the report" 1 "bad\.safetensors\.report\.json is a folder, not a regular file" -- \
  "$sparq" convert --force "$model" "$bad"
test -d "$bad.report.json" || { echo "FAIL: the folder at the report went"; failures=$((failures + 1)); }
rmdir "$bad.report.json"
absent "a folder at the report" "$bad"

# What is at OUT already: only a regular file is replaced, and only with --force.
# unchanged DESCRIPTION PATH EXPECTED_CONTENT: PATH still holds EXPECTED_CONTENT.
unchanged() {
  if [ "$(cat "$2" 2>/dev/null)" = "$3" ]; then echo "ok: $1 left unchanged"
  else echo "FAIL: $1 changed"; failures=$((failures + 1)); fi
}
printf 'precious\n' >"$work/target.txt"
ln -s "$work/target.txt" "$work/link.safetensors"
expect "a symbolic link at OUT" 1 "link\.safetensors is a symbolic link, not a regular file" -- \
  "$sparq" convert --force "$model" "$work/link.safetensors"
if [ -L "$work/link.safetensors" ] && [ "$(readlink "$work/link.safetensors")" = "$work/target.txt" ]; then
  echo "ok: the symbolic link is still one"
else echo "FAIL: the symbolic link was replaced"; failures=$((failures + 1)); fi
unchanged "the link's target" "$work/target.txt" "precious"
absent "a symbolic link at OUT" "$work/link.safetensors.report.json" "$work/link.safetensors.tmp"
mkfifo "$work/fifo.safetensors"
expect "a FIFO at OUT, at once" 1 "fifo\.safetensors is a FIFO, not a regular file" -- \
  timeout 10 "$sparq" convert --force "$model" "$work/fifo.safetensors"
[ -p "$work/fifo.safetensors" ] && echo "ok: the FIFO is still one" || \
  { echo "FAIL: the FIFO was replaced"; failures=$((failures + 1)); }
rm -f "$work/fifo.safetensors"
mkdir "$work/dir.safetensors"
expect "a folder at OUT" 1 "dir\.safetensors is a folder, not a regular file" -- \
  "$sparq" convert --force "$model" "$work/dir.safetensors"
rmdir "$work/dir.safetensors" || { echo "FAIL: the folder at OUT changed"; failures=$((failures + 1)); }
if [ -e /dev/null ]; then
  expect "a device at OUT" 1 "/dev/null is a device node, not a regular file" -- \
    "$sparq" convert --force "$model" /dev/null
fi
printf 'an older output\n' >"$work/old.safetensors"
expect "an existing OUT without --force" 1 "old\.safetensors exists; pass --force to replace it" -- \
  "$sparq" convert "$model" "$work/old.safetensors"
unchanged "an existing OUT without --force" "$work/old.safetensors" "an older output"
absent "an existing OUT without --force" "$work/old.safetensors.report.json"
printf 'an older report\n' >"$work/new.safetensors.report.json"
expect "an existing report without --force" 1 "new\.safetensors\.report\.json exists; pass --force" -- \
  "$sparq" convert "$model" "$work/new.safetensors"
unchanged "an existing report without --force" "$work/new.safetensors.report.json" "an older report"
[ ! -e "$work/new.safetensors" ] && ! compgen -G "$work/new.safetensors.tmp*" >/dev/null && \
  echo "ok: an existing report without --force leaves no output" || \
  { echo "FAIL: an existing report without --force left an output"; failures=$((failures + 1)); }
expect "an existing OUT with --force" 0 "wrote .*old\.safetensors and" -- \
  "$sparq" convert --force "$model" "$work/old.safetensors"
expect "the replaced OUT is a model" 0 "tensor layers.0.mlp.down.weight.values" -- \
  "$python" "$here/read_safetensors.py" "$work/old.safetensors"
[ -f "$work/old.safetensors.report.json" ] && [ ! -L "$work/old.safetensors" ] && \
  echo "ok: --force wrote a regular file and its report" || \
  { echo "FAIL: --force did not write both files"; failures=$((failures + 1)); }

# ---- a sharded Hugging Face layout ----
layout="$here/model_layout.py"
sharded="$work/sharded"
"$python" "$layout" make "$sharded" >/dev/null
expect "--keep-split converts a sharded model" 0 \
  "wrote .*split2/ \(4 shards, model.safetensors.index.json, config.json, sparq_report.json\)" -- \
  "$sparq" convert --keep-split --threads 2 --max-nmse 0.2 "$sharded" "$work/split2"
expect "an independent reader checks the layout" 0 "23 tensors converted, 12 copied byte for byte, 4 shards" -- \
  "$python" "$layout" check "$sharded" "$work/split2"
expect "--threads 1" 0 "wrote" -- \
  "$sparq" convert --keep-split --threads 1 --max-nmse 0.2 "$sharded" "$work/split1"
same=1
for f in "$work"/split2/*.safetensors "$work"/split2/model.safetensors.index.json "$work"/split2/config.json; do
  cmp -s "$f" "$work/split1/$(basename "$f")" || { same=0; echo "differs: $(basename "$f")"; }
done
[ "$same" = 1 ] && echo "ok: --threads 1 and 2 write the same bytes" || \
  { echo "FAIL: --threads 1 and 2 differ"; failures=$((failures + 1)); }
expect "the output projection stays dense i8 by default" 0 '"lm_head.weight": \{ "format": "dense\+i8-row"' -- \
  "$python" -c "import json; q = json.load(open('$work/split2/config.json'))['quantization_config']; print(json.dumps({k: {'format': v['format']} for k, v in q['modules'].items()}, sort_keys=True).replace('{\"format', '{ \"format'))"
expect "the convolution is converted in its GEMM form" 0 '"vision.conv_stem.weight": \{ "format": "[a-z0-9:]+\+i8-row", "original_shape": \[16, 3, 4, 4\], "rows": 16, "cols": 48' -- \
  "$python" -c "import json; m = json.load(open('$work/split2/config.json'))['quantization_config']['modules']['vision.conv_stem.weight']; print('\"vision.conv_stem.weight\": { ' + ', '.join('\"%s\": %s' % (k, json.dumps(m[k])) for k in ('format', 'original_shape', 'rows', 'cols')))"
expect "--tensor-type rules: first match wins, keep copies" 0 "model.layers.0.mlp.up_proj.weight: recipe from --tensor-type 'mlp.*up=2:4\+i4-g32' \(rule 1\)" -- \
  "$sparq" convert --keep-split --max-nmse 0 --tensor-type 'mlp\.up=2:4+i4-g32' \
  --tensor-type 'mlp=keep' --tensor-type 'lm_head=dense+f16' "$sharded" "$work/rules"
expect "--tensor-type: what each tensor got" 0 "up 2:4\+i4-g32, gate kept, down kept, lm_head dense\+f16" -- \
  "$python" -c "import json; q = json.load(open('$work/rules/config.json'))['quantization_config']; m = q['modules']; k = q['modules_to_not_convert']; print('up', m['model.layers.0.mlp.up_proj.weight']['format'] + ', gate', 'kept' if 'model.layers.0.mlp.gate_proj.weight' in k else 'converted', end=', '); print('down', 'kept' if 'model.layers.0.mlp.down_proj.weight' in k else 'converted', end=', '); print('lm_head', m['lm_head.weight']['format'])"
expect "a bad --tensor-type" 2 "--tensor-type 'mlp=csr9\+i8-row': 'csr9\+i8-row' is not keep or STRUCTURE\+ENCODING" -- \
  "$sparq" convert --keep-split --tensor-type 'mlp=csr9+i8-row' "$sharded" "$work/bad_rule"
expect "an existing folder without --force" 1 "split2 exists; pass --force to replace it" -- \
  "$sparq" convert --keep-split "$sharded" "$work/split2"
expect "an existing folder with --force" 0 "wrote" -- \
  "$sparq" convert --keep-split --force --max-nmse 0.2 "$sharded" "$work/split2"
expect "one file from a sharded model" 0 "wrote .*single\.safetensors and" -- \
  "$sparq" convert --max-nmse 0.2 "$sharded" "$work/single.safetensors"
# hostile layouts: refused before any work, nothing left behind
hostile() { # hostile DESCRIPTION PATTERN EDIT-PYTHON
  rm -rf "$work/hostile" && cp -r "$sharded" "$work/hostile"
  "$python" -c "import json, os; p = '$work/hostile/model.safetensors.index.json'; i = json.load(open(p)); wm = i['weight_map']; $3; json.dump(i, open(p, 'w'))"
  expect "$1" 1 "$2" -- "$sparq" convert --keep-split "$work/hostile" "$work/hostile_out"
  absent "$1" "$work/hostile_out"
}
hostile "an index naming a missing shard" "shard model-00009-of-00004.safetensors: .*cannot open" \
  "wm['lm_head.weight'] = 'model-00009-of-00004.safetensors'"
hostile "a tensor in two shards" "tensor 'lm_head.weight' is in shard model-0000[0-9]-of-00004.safetensors, but model.safetensors.index.json puts it in" \
  "wm['lm_head.weight'] = sorted(set(wm.values()) - {wm['lm_head.weight']})[0]"
hostile "a shard path with .." "shard '../model-00001-of-00004.safetensors' .* is not a file name in the model's folder" \
  "wm['lm_head.weight'] = '../model-00001-of-00004.safetensors'"

[ "$failures" -eq 0 ]
