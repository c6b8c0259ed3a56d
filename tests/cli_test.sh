#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cli_test.sh SPARQ [MAN_DIR] - the command line as a user meets it: `info` shows devices,
# caps and the choice; `check` passes; no OpenCL platform gives a non-zero exit naming the
# package to install; every command takes --help and refuses unknown options and stray
# arguments (exit 2, one line naming them); --version; the top-level --help lists every
# environment variable sparq reads; one message prefix; `tune` says where it wrote;
# `convert` warns when most layers rolled back and names tensors that are no matrix;
# `demo` (accuracy part, with the calibrated SparseGPT line) and `tune --list` run;
# `inspect` and `bench` on a small converted model (and inspect on a sharded folder); the
# man pages in MAN_DIR (where help2man made them) cover every command.
set -uo pipefail
sparq="$1"
man_dir="${2:-}"
here="$(cd "$(dirname "$0")/.." && pwd)"
failures=0
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
expect() { # expect DESCRIPTION WANTED_RC PATTERN -- command...  (WANTED_RC: a number, or !0)
  local what="$1" want_rc="$2" pattern="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if grep -q "LeakSanitizer has encountered a fatal error" <<<"$out"; then
    # LSan's own tracer crashed while stopping the threads (PoCL's) to scan them: a
    # sanitizer failure, not a leak (a leak reads "detected memory leaks"); run it again
    echo "note: $what: LeakSanitizer's tracer crashed; running it once more"
    out="$("$@" 2>&1)"; rc=$?
  fi
  if [ "$want_rc" = "!0" ] && [ "$rc" -eq 0 ] || [ "$want_rc" != "!0" ] && [ "$rc" -ne "$want_rc" ]; then
    fail "$what: exit $rc, want $want_rc"; echo "$out" | tail -5; return
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    fail "$what: output lacks /$pattern/"; echo "$out" | tail -5; return
  fi
  echo "ok: $what"
}
streams() { # streams COMMAND...: runs it; $rc, $out (its stdout) and $err (its stderr)
  local e; e="$(mktemp)"
  out="$("$@" 2>"$e")"; rc=$?
  err="$(cat "$e")"; rm -f "$e"
}
empty_icd="$(mktemp -d)"
work="$(mktemp -d)"
expect "info lists caps and the choice" 0 "chosen: .*" -- "$sparq" info
expect "info shows compute units" 0 "compute units" -- "$sparq" info
expect "debug log names the device" 0 "sparq: device \"" -- env SPARQ_LOG=debug "$sparq" check
expect "check passes" 0 "check passed" -- "$sparq" check
expect "no platform names the package" 1 "apt-get install pocl-opencl-icd" -- \
  env OCL_ICD_VENDORS="$empty_icd" "$sparq" info
expect "bad SPARQ_DEVICE is explained" 1 "matches no device" -- \
  env SPARQ_DEVICE=no-such-device "$sparq" check
expect "unknown command refused" 2 "^sparq: unknown command 'frobnicate'; try 'sparq --help'$" -- \
  "$sparq" frobnicate
expect "unknown top-level option refused" 2 "unknown option '--bogus'" -- "$sparq" --bogus

# --help, --version and usage errors (all of them before any device work)
for args in --help -h help ""; do
  streams "$sparq" $args
  if [ "$rc" -ne 0 ] || ! grep -q "^Usage: sparq COMMAND" <<<"$out" || [ -n "$err" ]; then
    fail "sparq $args: exit $rc, want 0 and the usage on stdout only"
  else
    echo "ok: sparq $args prints the usage"
  fi
done
expect "--version" 0 "^sparq [0-9]+\.[0-9]+" -- "$sparq" --version
expect "version" 0 "^sparq [0-9]+\.[0-9]+" -- "$sparq" version
for command in info check tune convert inspect bench demo version help; do
  for help in --help -h; do
    streams "$sparq" "$command" "$help"
    if [ "$rc" -ne 0 ] || ! grep -qE "^Usage: sparq ($command|COMMAND)" <<<"$out" || [ -n "$err" ]; then
      fail "sparq $command $help: exit $rc, want 0 and the usage on stdout only: $err"
    else
      echo "ok: sparq $command $help"
    fi
  done
  for bad in --bogus -x stray-argument; do
    args=("$bad")
    [ "$command" = convert ] && [ "$bad" = stray-argument ] && args=(in out "$bad")
    [ "$command" = inspect ] && [ "$bad" = stray-argument ] && args=(model "$bad")
    streams "$sparq" "$command" "${args[@]}"
    if [ "$rc" -ne 2 ] || [ -n "$out" ] || [ "$(wc -l <<<"$err")" -ne 1 ] ||
       ! grep -q "^sparq $command: .*'$bad'.*; try 'sparq $command --help'$" <<<"$err"; then
      fail "sparq $command ${args[*]}: exit $rc, want 2 and one line naming $bad: $err"
    else
      echo "ok: sparq $command ${args[*]} is a usage error"
    fi
  done
done
expect "a missing value is a usage error" 2 "^sparq demo: --repeats needs a value" -- \
  "$sparq" demo --repeats
expect "one message prefix" 2 "^sparq tune: --case: case \"foo\": " -- "$sparq" tune --case foo
streams "$sparq" tune --case foo
if grep -q "tune: tune:" <<<"$err"; then fail "the prefix is doubled: $err"; else echo "ok: one prefix"; fi
expect "tune with nothing to do" 2 "nothing to do" -- "$sparq" tune

# every environment variable that the library and the CLI read is in --help
help_text="$("$sparq" --help)"
for name in $(grep -rhoE 'getenv\("[A-Z_]+"\)' "$here"/base "$here"/host "$here"/formats \
                "$here"/autotune "$here"/tools | sed -E 's/getenv\("([A-Z_]+)"\)/\1/' | sort -u); do
  if grep -qE "^  $name " <<<"$help_text"; then echo "ok: --help lists $name"
  else fail "--help does not list $name"; fi
done

expect "tune says where it wrote" 0 "merged into $work/user\.json" -- \
  env SPARQ_TUNE_DB="$work/user.json" "$sparq" tune --case csr:64x64:b1 --max-evals 1 \
  --repeats 1 --no-break-even
if [ -s "$work/user.json" ]; then echo "ok: the database is there"; else fail "no $work/user.json"; fi
expect "tune --db says where it wrote" 0 "merged into $work/db\.json" -- \
  "$sparq" tune --case csr:64x64:b1 --max-evals 1 --repeats 1 --no-break-even --db "$work/db.json"

# Gaussian weights, which the default recipe rolls back, and a 1-D tensor
python3 - "$work/gauss.safetensors" <<'PY'
import json, random, struct, sys
random.seed(1)
shapes = {"layers.0.up.weight": [256, 256], "layers.0.down.weight": [256, 256],
          "layers.0.scale": [64]}
header, blobs, pos = {}, [], 0
for name, shape in shapes.items():
    n = shape[0] * (shape[1] if len(shape) > 1 else 1)
    b = struct.pack("<%df" % n, *(random.gauss(0, 0.02) for _ in range(n)))
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [pos, pos + len(b)]}
    blobs.append(b)
    pos += len(b)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
PY
expect "convert warns when every layer rolled back" 0 \
  "^sparq convert: warning: 2 of 2 layers were rolled back" -- \
  "$sparq" convert "$work/gauss.safetensors" "$work/out.safetensors"
expect "the warning suggests a safer recipe" 0 "less pruning: --sparsity 0\.25" -- \
  "$sparq" convert --force "$work/gauss.safetensors" "$work/out.safetensors"
expect "a selected 1-D tensor is named" 0 \
  "^sparq convert: layers\.0\.scale: 1-D tensor \(shape \[64\]\) is not a matrix; copied as it is" -- \
  "$sparq" convert --include scale --force "$work/gauss.safetensors" "$work/out.safetensors"

# inspect and bench on a small converted model (csr+i8-row kept by --no-rollback), and
# inspect on a sharded folder without packed matrices
expect "convert makes a small csr model" 0 "^wrote " -- "$sparq" convert --structure csr \
  --sparsity 0.5 --quant i8-row --max-nmse 1 --no-rollback "$work/gauss.safetensors" "$work/csr.safetensors"
matches() { # matches WHAT PATTERN...: each pattern is in $out, with $rc 0
  local what="$1" pattern; shift
  for pattern in "$@"; do
    if [ "$rc" -eq 0 ] && grep -qE -- "$pattern" <<<"$out"; then echo "ok: $what: /$pattern/"
    else fail "$what: exit $rc, or no /$pattern/: $err"; fi
  done
}
streams "$sparq" inspect "$work/csr.safetensors"
matches "inspect shows the packed matrices" \
  "^layers\.0\.down\.weight +csr\+i8-row +256 x 256 +[0-9]+\.[0-9]{2} +[0-9]+$" \
  "^layers\.0\.up\.weight +csr\+i8-row " "^packed matrices: 2, [0-9]+ bytes" \
  "^other tensors: +1, 256 bytes" "^  F32 +1 tensor +256 bytes" "^total: +[0-9]+ bytes .* in 1 shard$"
streams "$sparq" bench --model "$work/csr.safetensors" --batch 1,2 --repeats 3
matches "bench times each layer" "^layers\.0\.down\.weight +1 +[0-9.]+ +[0-9.]+ .*\| .*x \| .*kernel" \
  "^layers\.0\.up\.weight +2 +[0-9.]+ " "^  batch +1: packed +[0-9.]+ ms, dense f32 +[0-9.]+ ms, speedup [0-9.]+x$" \
  "^  batch +2: packed .* speedup [0-9.]+x$" "^  bytes: packed [0-9]+ .*, dense f32 524288 "
streams "$sparq" bench --model "$work/csr.safetensors" --batch 2 --repeats 1 --layers 'up\.'
if [ "$rc" -eq 0 ] && grep -q "^layers\.0\.up\.weight " <<<"$out" && ! grep -q "^layers\.0\.down" <<<"$out"; then
  echo "ok: bench --layers selects"; else fail "bench --layers: exit $rc: $err"; fi
expect "bench --layers matching nothing" 1 "^sparq bench: .*: no packed matrix matches --layers" -- \
  "$sparq" bench --model "$work/csr.safetensors" --layers nothing-like-this
expect "inspect on a missing path" 1 "^sparq inspect: opening $work/missing: .*[Nn]o such file" -- \
  "$sparq" inspect "$work/missing"
expect "bench on a missing path" 1 "^sparq bench: opening $work/missing: .*[Nn]o such file" -- \
  "$sparq" bench --model "$work/missing"
expect "bench --batch 0" 2 "^sparq bench: --batch wants whole numbers .* not '0'" -- \
  "$sparq" bench --model "$work/csr.safetensors" --batch 0
expect "bench --batch x" 2 "^sparq bench: --batch wants whole numbers .* not '1,x'" -- \
  "$sparq" bench --model "$work/csr.safetensors" --batch 1,x
expect "bench without --model" 2 "^sparq bench: --model is required" -- "$sparq" bench
expect "inspect without a model" 2 "^sparq inspect: which model" -- "$sparq" inspect
/usr/bin/python3 "$here/tests/model_layout.py" make "$work/sharded" >/dev/null
streams "$sparq" inspect "$work/sharded"
matches "inspect on a sharded folder" "^$work/sharded: sharded, 4 shards$" "^no packed matrices" \
  "^packed matrices: 0, 0 bytes" "^  BF16 +[0-9]+ tensors" "^  BOOL +1 tensor " "in 4 shards$"

expect "demo reports accuracy through sparq" 0 "same predictions as the script" -- \
  "$sparq" demo --no-speed
expect "demo compares SparseGPT with magnitude pruning" 0 \
  "csr 90%: magnitude [0-9.]+ % \\([-+][0-9.]+ points\\), .*sparsegpt [0-9.]+ %" -- \
  "$sparq" demo --no-speed
expect "demo on a missing model is refused" 1 "nonexistent" -- \
  "$sparq" demo --no-speed --model /nonexistent/model.safetensors
expect "tune --list shows where parameters come from" 0 "spmm_csr_rowvec" -- "$sparq" tune --list

# the man pages, which help2man made at build time
if [ -n "$man_dir" ]; then
  for command in info check tune convert inspect bench demo; do
    if grep -q "^$command\$" "$man_dir/sparq.1" && grep -q "^sparq-$command " "$man_dir/sparq-$command.1"; then
      echo "ok: the man pages cover $command"
    else
      fail "$man_dir/sparq.1 does not list $command, or sparq-$command.1 is missing"
    fi
  done
fi
rm -rf "$work"
rmdir "$empty_icd"
[ "$failures" -eq 0 ]
