#!/usr/bin/env bash
# cli_test.sh SPARQ - the command line as a user meets it: `info` shows devices, caps and
# the choice; `check` passes; no OpenCL platform gives a non-zero exit naming the
# package to install; unknown commands are refused; `demo` (accuracy part, with the
# calibrated SparseGPT line) and `tune --list` run.
set -uo pipefail
sparq="$1"
failures=0
expect() { # expect DESCRIPTION WANTED_RC PATTERN -- command...
  local what="$1" want_rc="$2" pattern="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [ "$want_rc" = "0" ] && [ "$rc" -ne 0 ] || [ "$want_rc" != "0" ] && [ "$rc" -eq 0 ]; then
    echo "FAIL: $what: exit $rc"; echo "$out" | tail -5; failures=$((failures + 1)); return
  fi
  if ! grep -qE "$pattern" <<<"$out"; then
    echo "FAIL: $what: output lacks /$pattern/"; echo "$out" | tail -5; failures=$((failures + 1)); return
  fi
  echo "ok: $what"
}
empty_icd="$(mktemp -d)"
expect "info lists caps and the choice" 0 "chosen: .*" -- "$sparq" info
expect "info shows compute units" 0 "compute units" -- "$sparq" info
expect "debug log names the device" 0 "sparq: device \"" -- env SPARQ_LOG=debug "$sparq" check
expect "check passes" 0 "check passed" -- "$sparq" check
expect "no platform names the package" 1 "apt-get install pocl-opencl-icd" -- \
  env OCL_ICD_VENDORS="$empty_icd" "$sparq" info
expect "bad SPARQ_DEVICE is explained" 1 "matches no device" -- \
  env SPARQ_DEVICE=no-such-device "$sparq" check
expect "unknown command refused" 2 "unknown command" -- "$sparq" frobnicate
expect "demo reports accuracy through sparq" 0 "same predictions as the script" -- \
  "$sparq" demo --no-speed
expect "demo compares SparseGPT with magnitude pruning" 0 \
  "csr 90%: magnitude [0-9.]+ % \\([-+][0-9.]+ points\\), .*sparsegpt [0-9.]+ %" -- \
  "$sparq" demo --no-speed
expect "demo on a missing model is refused" 1 "nonexistent" -- \
  "$sparq" demo --no-speed --model /nonexistent/model.safetensors
expect "tune --list shows where parameters come from" 0 "spmm_csr_rowvec" -- "$sparq" tune --list
rmdir "$empty_icd"
[ "$failures" -eq 0 ]
