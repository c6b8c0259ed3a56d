#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gpu_check.sh - one-command validation of sparq on a machine with a GPU OpenCL driver
# (NVIDIA, AMD or Intel). From the repository root:
#
#   bash scripts/gpu_check.sh                    # the first GPU device, everything
#   bash scripts/gpu_check.sh --setup            # install dependencies first (Debian, root/sudo)
#   bash scripts/gpu_check.sh --device 1:0       # another device (SPARQ_DEVICE selector)
#   bash scripts/gpu_check.sh --device pthread --quick   # dry run on PoCL's CPU device
#
# Steps, each under `timeout` (a step that fails or times out is recorded as such and the
# run goes on with the next one):
#   1. setup   (only with --setup) scripts/setup.sh: the Debian packages
#   2. build   Release build in its own folder (default build-gpu); a tree copied without
#              build outputs is built here first
#   3. info    `sparq info`: every OpenCL device; the device is chosen: --device SELECTOR,
#              else the first device whose type is GPU (its P:D index); `clinfo -l` and
#              `nvidia-smi` too where installed
#   4. tests   ctest in the build folder with SPARQ_DEVICE set, result per test
#   5. bench   bench_sparse: the bandwidth roof, then csr, bsr16x16, 2:4, dense+i8-row,
#              dense+i4-g128 and dense+i8-row:w8a8 at batches 1, 8 and 32 on 4096x4096
#              and 768x3072, CLBlast as the peer on the same device
#   6. tune    `sparq tune --quick` into the results folder's tune.json (SPARQ_TUNE_DB; the
#              user's tuning database is never read or written)
# Everything goes to one results folder (default gpu-results/<date>-<device>) with
# summary.md: device, driver, each step's status and time, test counts, the bench rows,
# the tuning results and the exact commands. Steps 3-6 are bounded by 8 minutes together
# (the build by 4 more, on a cold tree only). docs/gpu.md explains how the OpenCL ICD
# loader finds a vendor's driver and what to do when it does not. Exit status: 0 when
# every step passed, 1 when a step failed or timed out, 2 for a usage error.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/gpu_check.sh [options]

Builds sparq (Release), shows the OpenCL devices, runs the test suite, the bandwidth
roof and the quick bench (CLBlast as the peer) and `sparq tune --quick` on one device,
and writes everything to a results folder with a summary.md.

options:
  --device SELECTOR   device to check, as SPARQ_DEVICE takes it: "P:D" (platform:device
                      index, see `sparq info`) or a case-insensitive substring of the
                      device or platform name ("NVIDIA", "gfx90a", "pthread" for PoCL).
                      Default: the first device of type GPU that `sparq info` lists;
                      without one the run stops after `info` and says so
  --out DIR           results folder (default gpu-results/<date>-<device>)
  --build-dir DIR     build folder (default build-gpu)
  --setup             run scripts/setup.sh first (Debian packages; needs root or sudo
                      and a network); default: assume they are installed and say which
                      are missing
  --no-build          use the binaries already in the build folder
  --quick             a short dry run: a few device tests (ctest -R), one shape
                      (768x3072), 5 repeats, one tuning case; for PoCL on a small CPU
  --tests REGEX       run only the ctest tests matching REGEX (ctest -R)
  --jobs N            parallel build jobs and ctest -j (default: nproc)
  --timeout-scale X   multiply every step's time limit by X (e.g. 3 on a slow CPU)
  -h, --help          this text

time limits (seconds, before --timeout-scale): setup 900, build 240, info 30, tests 210,
bench 150, tune 90: steps info to tune take at most 8 minutes together.
environment: CI is passed through unchanged (with CI set, a test that cannot open its
device fails instead of skipping).
EOF
}

# ---- options ----
DEVICE=""
OUT=""
BUILD_DIR=""
DO_SETUP=0
DO_BUILD=1
QUICK=0
TEST_REGEX=""
JOBS="$(nproc 2>/dev/null || echo 2)"
TIMEOUT_SCALE=1

die_usage() { echo "gpu_check.sh: $*" >&2; echo "(scripts/gpu_check.sh --help)" >&2; exit 2; }
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die_usage "$1 needs a value"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    --device) need_value "$@"; DEVICE="$2"; shift 2 ;;
    --device=*) DEVICE="${1#*=}"; shift ;;
    --out) need_value "$@"; OUT="$2"; shift 2 ;;
    --out=*) OUT="${1#*=}"; shift ;;
    --build-dir) need_value "$@"; BUILD_DIR="$2"; shift 2 ;;
    --build-dir=*) BUILD_DIR="${1#*=}"; shift ;;
    --setup) DO_SETUP=1; shift ;;
    --no-build) DO_BUILD=0; shift ;;
    --quick) QUICK=1; shift ;;
    --tests) need_value "$@"; TEST_REGEX="$2"; shift 2 ;;
    --tests=*) TEST_REGEX="${1#*=}"; shift ;;
    --jobs) need_value "$@"; JOBS="$2"; shift 2 ;;
    --jobs=*) JOBS="${1#*=}"; shift ;;
    --timeout-scale) need_value "$@"; TIMEOUT_SCALE="$2"; shift 2 ;;
    --timeout-scale=*) TIMEOUT_SCALE="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option \"$1\"" ;;
  esac
done
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die_usage "--jobs takes a positive integer"
if ! [[ "$TIMEOUT_SCALE" =~ ^[0-9]*\.?[0-9]+$ ]] ||
  ! awk -v s="$TIMEOUT_SCALE" 'BEGIN{exit !(s > 0)}'; then
  die_usage "--timeout-scale takes a positive number"
fi

# Paths given on the command line are relative to where the script was called from.
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
[ -n "$OUT" ] && OUT="$(abspath "$OUT")"
[ -n "$BUILD_DIR" ] && BUILD_DIR="$(abspath "$BUILD_DIR")"
cd "$(dirname "$0")/.."
ROOT="$PWD"
# The run sets these itself for each command; inherited values would pick another device,
# other kernel sources or the user's tuning database.
UNSET_VARS=""
for v in SPARQ_DEVICE SPARQ_KERNEL_DIR SPARQ_TUNE_DB SPARQ_CACHE_DIR SPARQ_TUNE; do
  if [ -n "${!v+x}" ]; then
    UNSET_VARS+="$v=${!v} "
    unset "$v"
  fi
done
BUILD="${BUILD_DIR:-$ROOT/build-gpu}"

limit() { awk -v s="$TIMEOUT_SCALE" -v t="$1" 'BEGIN{printf "%d\n", t * s + 0.5}'; }
T_SETUP="$(limit 900)"; T_BUILD="$(limit 240)"; T_INFO="$(limit 30)"
T_TESTS="$(limit 210)"; T_BENCH="$(limit 150)"; T_TUNE="$(limit 90)"

# What the run measures. Tests that do not use the device are left out: oclgrind_* run
# the kernels in a simulator (and a GPU selector means nothing inside it), gpu_build
# compiles offline for every vendor; CI runs both.
TEST_EXCLUDE='^(oclgrind_.*|gpu_build)$'
QUICK_TESTS='^(test_device|test_context|test_bandwidth|test_linear_dense|test_program_cache|test_registry_rows)$'
BENCH_FORMATS="csr,bsr16x16,2:4,dense+i8-row,dense+i4-g128,dense+i8-row:w8a8"
BENCH_BATCHES="1,8,32"
BENCH_ARGS=(--quick --structures "$BENCH_FORMATS" --batches "$BENCH_BATCHES")
TUNE_ARGS=(--quick)
if [ "$QUICK" = 1 ]; then
  [ -z "$TEST_REGEX" ] && TEST_REGEX="$QUICK_TESTS"
  BENCH_ARGS+=(--shapes 768x3072 --repeats 5 --rotate-mib 64)
  TUNE_ARGS=(--case csr:768x3072:b1:s0.9 --max-evals 4 --repeats 3)
fi

# ---- the results folder ----
STAMP="$(date +%Y-%m-%d-%H%M)"
OUT_GIVEN=1
if [ -z "$OUT" ]; then
  OUT_GIVEN=0
  OUT="$ROOT/gpu-results/.pending-$$" # renamed <date>-<device> once the device is known
fi
mkdir -p "$OUT"
if [ "$OUT_GIVEN" = 1 ] && [ -e "$OUT/summary.md" ]; then
  echo "gpu_check.sh: $OUT already holds a run; its files are overwritten"
fi

# ---- step bookkeeping ----
STEPS=()
declare -A ST_STATUS=() ST_TIME=() ST_LIMIT=() ST_LOG=() ST_NOTE=()
COMMANDS=() # "step<TAB>command line", in the order they ran
CUR="" CUR_T0="" CUR_LIMIT=0 CUR_STATUS="" CUR_LOG=""
RUN_T0="$(date +%s.%N)"
FINISHED=0
HAVE_STDBUF=0
command -v stdbuf >/dev/null && HAVE_STDBUF=1

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f\n", b - a}'; }
# A command as it can be pasted into a shell from the repository root, paths under it
# relative to it (absolute with SHOW_ABS=1: for a command that changes directory).
show_cmd() {
  local s="" a
  for a in "$@"; do
    if [ "${SHOW_ABS:-0}" != 1 ]; then
      [ "$a" = "$ROOT" ] && a="."
      a="${a//$ROOT\//}"
    fi
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
      s+="$a "
    else
      s+="'${a//\'/\'\\\'\'}' "
    fi
  done
  printf '%s\n' "${s% }"
}

step_begin() { # NAME LIMIT LOGFILE
  CUR="$1" CUR_LIMIT="$2" CUR_STATUS="" CUR_T0="$(now)"
  CUR_LOG="$OUT/$3"
  STEPS+=("$1")
  ST_LIMIT[$1]="$2" ST_LOG[$1]="$3" ST_STATUS[$1]="running" ST_NOTE[$1]=""
  : >"$CUR_LOG"
  echo
  echo "== $1 (limit ${2} s, log $(show_cmd "$CUR_LOG")) =="
}

# Runs one command of the current step under what is left of the step's limit, output to
# the terminal and the step's log. After a failure or a timeout the step's later commands
# do not run.
step_cmd() {
  [ -n "$CUR_STATUS" ] && return 0
  local left
  left="$(awk -v l="$CUR_LIMIT" -v a="$CUR_T0" -v b="$(now)" 'BEGIN{printf "%d\n", l - (b - a)}')"
  if [ "$left" -le 0 ]; then
    CUR_STATUS="timeout"
    return 0
  fi
  local line
  line="$(show_cmd "$@")"
  COMMANDS+=("$CUR"$'\t'"$line")
  echo "\$ $line" | tee -a "$CUR_LOG"
  local wrap=(timeout -k 10 "$left")
  [ "$HAVE_STDBUF" = 1 ] && wrap+=(stdbuf -oL -eL)
  # In the background, so that Ctrl-C reaches on_signal at once: `timeout` runs the
  # command in a process group of its own (its pid), which on_signal ends.
  local rc
  rm -f "$OUT/.rc" "$OUT/.pid"
  set +e
  {
    "${wrap[@]}" "$@" &
    echo "$!" >"$OUT/.pid"
    wait "$!"
    echo "$?" >"$OUT/.rc"
  } 2>&1 | tee -a "$CUR_LOG" &
  wait "$!"
  set -e
  rc="$(cat "$OUT/.rc" 2>/dev/null || echo 1)"
  rm -f "$OUT/.rc" "$OUT/.pid"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    CUR_STATUS="timeout"
    echo "gpu_check.sh: $CUR: timed out (limit $CUR_LIMIT s)" | tee -a "$CUR_LOG"
  elif [ "$rc" -ne 0 ]; then
    CUR_STATUS="failed (exit $rc)"
    echo "gpu_check.sh: $CUR: exit status $rc" | tee -a "$CUR_LOG"
  fi
}

# Ctrl-C or a TERM: the running command's process group ends, the step is recorded as
# interrupted, the summary written.
# shellcheck disable=SC2317 # called through the trap
on_signal() {
  trap - INT TERM
  echo
  echo "gpu_check.sh: interrupted"
  if [ -s "$OUT/.pid" ]; then
    kill -TERM -- "-$(cat "$OUT/.pid")" 2>/dev/null || kill -TERM "$(cat "$OUT/.pid")" 2>/dev/null || true
  fi
  wait 2>/dev/null
  rm -f "$OUT/.rc" "$OUT/.pid"
  if [ -n "$CUR" ] && [ "${ST_STATUS[$CUR]:-}" = "running" ]; then
    CUR_STATUS="interrupted"
    step_end
  fi
  write_summary
  echo "gpu_check.sh: summary so far: $(show_cmd "$OUT/summary.md")"
  exit 130
}
trap on_signal INT TERM

step_end() { # [NOTE]
  ST_STATUS[$CUR]="${CUR_STATUS:-ok}"
  ST_TIME[$CUR]="$(since "$CUR_T0")"
  [ $# -gt 0 ] && ST_NOTE[$CUR]="$1"
  echo "== $CUR: ${ST_STATUS[$CUR]} in ${ST_TIME[$CUR]} s =="
  write_summary
}

step_skip() { # NAME REASON
  STEPS+=("$1")
  ST_STATUS[$1]="skipped" ST_TIME[$1]="0.0" ST_LIMIT[$1]="-" ST_LOG[$1]="" ST_NOTE[$1]="$2"
  echo
  echo "== $1: skipped: $2 =="
  write_summary
}

# ---- what a machine lacks to build ----
# Each missing piece as "what (Debian package)". CLBlast and cmocka are optional here:
# without them the build leaves out the CLBlast peer or the tests.
MISSING=()
HAVE_CLBLAST=1
HAVE_CMOCKA=1
check_dependencies() {
  MISSING=()
  local c
  for c in cmake:cmake cc:gcc pkg-config:pkg-config make:make; do
    command -v "${c%%:*}" >/dev/null || MISSING+=("${c%%:*} (${c#*:})")
  done
  command -v pkg-config >/dev/null || return 0
  local m pkg
  for m in OpenCL:ocl-icd-opencl-dev jansson:libjansson-dev libxxhash:libxxhash-dev \
    zlib:zlib1g-dev lapacke:liblapacke-dev openblas:libopenblas-dev; do
    pkg="${m#*:}" m="${m%%:*}"
    pkg-config --exists "$m" 2>/dev/null || MISSING+=("$m ($pkg)")
  done
  [ -e /usr/include/CL/cl.h ] || [ -e /usr/local/include/CL/cl.h ] ||
    MISSING+=("OpenCL headers (opencl-headers)")
  [ -e /usr/include/fp16.h ] || [ -e /usr/include/fp16/fp16.h ] ||
    [ -e /usr/local/include/fp16.h ] || MISSING+=("fp16.h (libfp16-dev)")
  HAVE_CLBLAST=0
  pkg-config --exists clblast 2>/dev/null && HAVE_CLBLAST=1
  local d
  for d in /usr/lib/*/cmake/CLBlast /usr/lib/cmake/CLBlast /usr/local/lib/cmake/CLBlast; do
    if [ -d "$d" ]; then HAVE_CLBLAST=1; fi
  done
  pkg-config --exists cmocka 2>/dev/null || HAVE_CMOCKA=0
}

# ---- device information, filled in by the info step ----
NO_DEVICE="device not chosen yet"
SELECTOR="" HOW_CHOSEN="" DEV_NAME="" DEV_PLATFORM="" DEV_TYPE="" DEV_DRIVER=""
DEV_VERSION="" DEV_CU="" DEV_MEM="" DEV_PD="" NVSMI=""

# The block of `sparq info` for device P:D: FIELD's value.
info_field() { # FILE P:D FIELD
  awk -v pd="$2" -v f="$3" '
    /^device [0-9]+:[0-9]+ / { on = ($2 == pd); next }
    on && index($0, "    " f " ") == 1 { sub("^    " f " +", ""); print; exit }' "$1"
}

# ---- summary.md ----

summary_tests() {
  local res="$OUT/tests.tsv"
  if [ ! -s "$res" ]; then
    echo "No test results (see the steps above)."
    return
  fi
  awk -F'\t' '
    { n++; c[$2]++ }
    END {
      printf "%d tests: %d passed, %d failed, %d timed out, %d skipped, %d not finished\n",
             n, c["passed"], c["failed"], c["timeout"], c["skipped"], c["not finished"]
    }' "$res"
  local cases
  cases="$(awk -F'\t' '$4 != "" { s += $4 } END { print s + 0 }' "$res")"
  echo
  echo "cmocka cases skipped inside passing tests: $cases."
  if [ -n "$TEST_REGEX" ]; then
    echo "Selected: \`ctest -R '$TEST_REGEX'\`."
  fi
  echo "Left out (they do not use the device; CI runs them): \`$TEST_EXCLUDE\`."
  echo
  echo "| test | result | seconds | skipped cases |"
  echo "| --- | --- | ---: | --- |"
  awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $5 }' "$res"
}

summary_bench() {
  local json="$OUT/bench.json" txt="$OUT/bench.txt"
  if [ -s "$txt" ] && grep -q '^roof: ' "$txt"; then
    echo "Bandwidth roof (measured by bench_sparse at its start):"
    echo
    echo '```'
    grep '^roof: ' "$txt"
    echo '```'
    echo
  fi
  local table=""
  if [ -s "$json" ] && command -v python3 >/dev/null; then
    table="$(python3 - "$json" <<'PY' || true
import json, sys

# The JSON's rows one by one (one row a line), so that a file cut short by a timeout
# still gives the rows it holds.
rows, head = [], {}
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        s = line.strip().rstrip(",")
        if s.startswith('{"rows"'):
            try:
                rows.append(json.loads(s))
            except ValueError:
                pass
        elif s.startswith('"device"'):
            try:
                head = json.loads("{" + s.rstrip(",") + "}")
            except ValueError:
                head = {}
if not rows:
    sys.exit(0)
def num(v, fmt):
    return "-" if v is None else fmt % v
print("| shape | format | sparsity | batch | kernel | ms | GB/s | fraction of roof | x CLBlast | CLBlast ms | /dense |")
print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    print("| %dx%d | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
        r["rows"], r["cols"], r["format"], num(r.get("sparsity"), "%.2f"), r["batch"],
        (r.get("kernel") or "n/a").replace("|", "\\|"),
        num(r.get("auto_median_ms"), "%.4f"), num(r.get("gbs"), "%.1f"),
        num(r.get("roof_fraction"), "%.2f"), num(r.get("ratio_clblast"), "%.2f"),
        num(r.get("clblast_median_ms"), "%.4f"), num(r.get("ratio_dense"), "%.2f")))
if head.get("roof_gbs") is not None:
    print("\nroof %.1f GB/s; %d rows" % (head["roof_gbs"], len(rows)))
PY
)"
  fi
  if [ -n "$table" ]; then
    echo "ms: median of \`sparq_linear\` (AUTO path); GB/s: bytes moved / ms; x CLBlast:"
    echo "CLBlast's median / sparq's (above 1: sparq faster); /dense: sparq / the faster"
    echo "of the dense path and CLBlast. bench/README.md explains every column."
    echo
    printf '%s\n' "$table"
    if ! grep -q '"complete": true' "$json" 2>/dev/null && grep -q '^shape ' "$txt"; then
      echo
      echo "The bench did not finish: the rows above are those its JSON file holds; the"
      echo "table as it printed it (rows may be more):"
      echo
      echo '```'
      sed -n '/^shape /,$p' "$txt" | grep -v '^gpu_check.sh:' | grep -v '^  ' | head -80
      echo '```'
    fi
  elif [ -s "$txt" ] && grep -q '^shape ' "$txt"; then
    echo "The table as bench_sparse printed it (no JSON rows to read):"
    echo
    echo '```'
    sed -n '/^shape /,$p' "$txt" | grep -v '^gpu_check.sh:' | grep -v '^  ' | head -80
    echo '```'
  else
    echo "No bench rows (see bench.txt)."
  fi
}

summary_tune() {
  local txt="$OUT/tune.txt"
  if [ ! -s "$txt" ]; then
    echo "No tuning output."
    return
  fi
  if grep -q '^kernel ' "$txt"; then
    echo '```'
    sed -n '/^kernel /,$p' "$txt" | grep -v '^gpu_check.sh:'
    echo '```'
  else
    echo "No tuning table (see tune.txt); its last lines:"
    echo
    echo '```'
    tail -n 8 "$txt"
    echo '```'
  fi
  [ -s "$OUT/tune.json" ] && echo && echo "Database written: tune.json (SPARQ_TUNE_DB)."
  return 0
}

# Writes summary.md from what the run has so far (after every step). Nothing in it may
# stop the run: errexit is off while it runs.
write_summary() {
  local f="$OUT/summary.md" tmp="$OUT/.summary.md.tmp"
  set +e
  {
    echo "# sparq GPU check: ${DEV_NAME:-$NO_DEVICE}"
    echo
    if [ -n "$DEV_TYPE" ] && [ "$DEV_TYPE" != "GPU" ]; then
      echo "**Dry run**: the device is of type $DEV_TYPE, not a GPU; its times say nothing"
      echo "about a GPU."
      echo
    fi
    local commit
    commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
      commit+=" (with local changes)"
    fi
    echo "- date: $(date -d "@${RUN_T0%.*}" '+%Y-%m-%d %H:%M:%S %Z'), host $(hostname 2>/dev/null || echo ?)"
    echo "- sparq: commit $commit, build folder \`$(show_cmd "$BUILD")\` (Release)"
    echo "- mode: $([ "$QUICK" = 1 ] && echo "--quick (dry run: few tests, one shape)" || echo "full")"
    echo "- device: ${DEV_NAME:-?} [platform: ${DEV_PLATFORM:-?}], ${DEV_PD:+index $DEV_PD, }type ${DEV_TYPE:-?}"
    echo "- selector: SPARQ_DEVICE=${SELECTOR:-?} ($HOW_CHOSEN)"
    echo "- driver: ${DEV_DRIVER:-?}; ${DEV_VERSION:-?}"
    echo "- compute units: ${DEV_CU:-?}; global memory: ${DEV_MEM:-?}"
    [ -n "$NVSMI" ] && echo "- nvidia-smi: $NVSMI"
    [ -n "$UNSET_VARS" ] && echo "- ignored from the caller's environment: $UNSET_VARS"
    echo "- total time$([ "$FINISHED" = 1 ] || echo " so far"): $(since "$RUN_T0") s"
    echo
    echo "## Steps"
    echo
    echo "| step | status | seconds | limit (s) | log | note |"
    echo "| --- | --- | ---: | ---: | --- | --- |"
    local s
    for s in "${STEPS[@]}"; do
      echo "| $s | ${ST_STATUS[$s]} | ${ST_TIME[$s]:--} | ${ST_LIMIT[$s]} | ${ST_LOG[$s]:--} | ${ST_NOTE[$s]} |"
    done
    echo
    echo "## Tests"
    echo
    summary_tests
    echo
    echo "## Bandwidth roof and bench"
    echo
    summary_bench
    echo
    echo "## Tuning"
    echo
    summary_tune
    echo
    echo "## Commands"
    echo
    echo "From the repository root; each ran under \`timeout\` with what was left of its"
    echo "step's limit."
    echo
    echo '```sh'
    echo "bash scripts/gpu_check.sh $(show_cmd "${ORIG_ARGS[@]}")"
    local c last=""
    for c in "${COMMANDS[@]}"; do
      if [ "${c%%$'\t'*}" != "$last" ]; then
        last="${c%%$'\t'*}"
        echo "# $last"
      fi
      echo "${c#*$'\t'}"
    done
    echo '```'
    echo
    echo "## Files"
    echo
    local file
    for file in "$OUT"/*; do
      if [ -e "$file" ] && [ "${file##*/}" != summary.md ]; then echo "- ${file##*/}"; fi
    done
  } >"$tmp"
  mv "$tmp" "$f"
  set -e
}

# ---- the test results, per test ----
# tests.tsv: name, result (passed, failed, timeout, skipped, not finished), seconds,
# cmocka cases skipped, their names.
collect_tests() { # EXPECTED_LIST CTEST_OUTPUT LASTTEST_LOG
  local expected="$1" out="$2" lastlog="$3"
  awk -v lastlog="$lastlog" -v expected="$expected" '
    BEGIN {
      while ((getline line < expected) > 0) order[++n] = line
      # cmocka skips per test program, from ctest LastTest.log
      while ((getline line < lastlog) > 0) {
        if (line ~ /^[0-9]+\/[0-9]+ Test: /) { name = line; sub(/^[0-9]+\/[0-9]+ Test: /, "", name) }
        else if (line ~ /^\[  SKIPPED \] / && line !~ /test\(s\)/) {
          c = line; sub(/^\[  SKIPPED \] /, "", c)
          if (!((name, c) in seen)) { seen[name, c] = 1; nskip[name]++; names[name] = names[name] (names[name] ? ", " : "") c }
        }
      }
    }
    /^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: / {
      line = $0
      sub(/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: /, "", line)
      t = line; sub(/ .*/, "", t)
      secs = ""
      if (match(line, /[0-9.]+ sec/)) secs = substr(line, RSTART, RLENGTH - 4)
      if (line ~ /\*\*\*Skipped/ || line ~ /Not Run/) r = "skipped"
      else if (line ~ /\*\*\*Timeout/) r = "timeout"
      else if (line ~ / Passed /) r = "passed"
      else r = "failed"
      res[t] = r; sec[t] = secs
    }
    END {
      for (i = 1; i <= n; i++) {
        t = order[i]
        printf "%s\t%s\t%s\t%s\t%s\n", t, (t in res) ? res[t] : "not finished", sec[t],
               nskip[t] ? nskip[t] : "", names[t]
      }
    }' "$out"
}

# ================================ the run ================================
ORIG_ARGS=() # the options in force, for the summary
[ -n "$DEVICE" ] && ORIG_ARGS+=(--device "$DEVICE")
[ "$OUT_GIVEN" = 1 ] && ORIG_ARGS+=(--out "$OUT")
[ -n "$BUILD_DIR" ] && ORIG_ARGS+=(--build-dir "$BUILD_DIR")
[ "$DO_SETUP" = 1 ] && ORIG_ARGS+=(--setup)
[ "$DO_BUILD" = 0 ] && ORIG_ARGS+=(--no-build)
[ "$QUICK" = 1 ] && ORIG_ARGS+=(--quick)
[ -n "$TEST_REGEX" ] && [ "$TEST_REGEX" != "$QUICK_TESTS" ] && ORIG_ARGS+=(--tests "$TEST_REGEX")
[ "$TIMEOUT_SCALE" != 1 ] && ORIG_ARGS+=(--timeout-scale "$TIMEOUT_SCALE")

echo "gpu_check.sh: results in $(show_cmd "$OUT") (renamed after the device once it is known)"

# 1. setup
if [ "$DO_SETUP" = 1 ]; then
  step_begin setup "$T_SETUP" setup.txt
  step_cmd bash scripts/setup.sh
  step_end
else
  step_skip setup "not asked for (--setup installs the Debian packages)"
fi

# 2. build
check_dependencies
if [ "$DO_BUILD" = 0 ]; then
  step_skip build "--no-build: using the binaries in $(show_cmd "$BUILD")"
elif [ ${#MISSING[@]} -gt 0 ]; then
  [ "$HAVE_CLBLAST" = 0 ] && MISSING+=("optional: CLBlast (libclblast-dev)")
  [ "$HAVE_CMOCKA" = 0 ] && MISSING+=("optional: cmocka (libcmocka-dev)")
  step_begin build "$T_BUILD" build.txt
  {
    echo "gpu_check.sh: cannot build, missing:"
    printf '  %s\n' "${MISSING[@]}"
    echo "install them (bash scripts/setup.sh, or --setup) and run again"
  } | tee -a "$CUR_LOG"
  CUR_STATUS="failed (missing dependencies)"
  missing_list="$(printf '%s; ' "${MISSING[@]}")"
  step_end "missing: ${missing_list%; }"
else
  CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=Release)
  note=""
  if [ "$HAVE_CLBLAST" = 0 ]; then
    CMAKE_ARGS+=(-DSPARQ_WITH_CLBLAST=OFF)
    note+="CLBlast not found (libclblast-dev): built without the CLBlast peer. "
  fi
  if [ "$HAVE_CMOCKA" = 0 ]; then
    CMAKE_ARGS+=(-DSPARQ_BUILD_TESTS=OFF)
    note+="cmocka not found (libcmocka-dev): built without the tests. "
  fi
  step_begin build "$T_BUILD" build.txt
  step_cmd cmake -S "$ROOT" -B "$BUILD" "${CMAKE_ARGS[@]}"
  step_cmd cmake --build "$BUILD" -j"$JOBS"
  step_end "$note"
fi

SPARQ="$BUILD/sparq"
BENCH="$BUILD/bench/bench_sparse"
CACHE_DIR="$BUILD/tests/cache" # the build folder's program cache, the one the tests use
[ -d "$BUILD" ] && mkdir -p "$CACHE_DIR"
TUNE_DB="" # set once the results folder has its final name

# 3. info and the device
DEVICE_OK=0
step_begin info "$T_INFO" info.txt
if [ ! -x "$SPARQ" ]; then
  echo "gpu_check.sh: $SPARQ is missing: the build did not finish" | tee -a "$CUR_LOG"
  CUR_STATUS="failed (no sparq binary)"
else
  step_cmd env SPARQ_CACHE_DIR="$CACHE_DIR" "$SPARQ" info
fi
if [ -z "$CUR_STATUS" ]; then
  if [ -n "$DEVICE" ]; then
    SELECTOR="$DEVICE" HOW_CHOSEN="--device"
  else
    SELECTOR="$(awk '/^device [0-9]+:[0-9]+ / { pd = $2 }
                     /^    type +GPU$/ && pd != "" { print pd; exit }' "$CUR_LOG")"
    HOW_CHOSEN="the first GPU device sparq info lists"
  fi
  if [ -z "$SELECTOR" ]; then
    {
      echo "gpu_check.sh: sparq sees no GPU device. docs/gpu.md says how the OpenCL ICD"
      echo "loader finds a vendor's driver (/etc/OpenCL/vendors/*.icd, OCL_ICD_VENDORS) and"
      echo "how to check with clinfo -l. To run on another device anyway (a dry run), name"
      echo "it: --device SELECTOR (e.g. --device pthread for PoCL)."
    } | tee -a "$CUR_LOG"
    CUR_STATUS="failed (no GPU device)"
  else
    step_cmd env SPARQ_DEVICE="$SELECTOR" SPARQ_CACHE_DIR="$CACHE_DIR" "$SPARQ" info
    if [ -z "$CUR_STATUS" ]; then
      DEV_PD="$(awk '/^chosen: / { print $2; exit }' "$CUR_LOG")"
      DEV_NAME="$(awk '/^chosen: / { sub(/^chosen: [0-9]+:[0-9]+ /, ""); print; exit }' "$CUR_LOG")"
      DEV_PLATFORM="$(awk -v pd="$DEV_PD" '$1 == "device" && $2 == pd {
                        sub(/.*\[platform: /, ""); sub(/\]$/, ""); print; exit }' "$CUR_LOG")"
      DEV_TYPE="$(info_field "$CUR_LOG" "$DEV_PD" type)"
      DEV_DRIVER="$(info_field "$CUR_LOG" "$DEV_PD" driver)"
      DEV_VERSION="$(info_field "$CUR_LOG" "$DEV_PD" version)"
      DEV_CU="$(info_field "$CUR_LOG" "$DEV_PD" "compute units")"
      DEV_MEM="$(info_field "$CUR_LOG" "$DEV_PD" "global memory")"
      [ -n "$DEV_NAME" ] && DEVICE_OK=1
      if [ "$DEV_TYPE" != "GPU" ]; then
        echo "gpu_check.sh: $DEV_NAME is of type $DEV_TYPE, not a GPU: a dry run" |
          tee -a "$CUR_LOG"
      fi
    fi
  fi
fi
# Other views of the drivers, where the tools are installed; they do not decide anything.
if command -v clinfo >/dev/null; then
  COMMANDS+=("info"$'\t'"clinfo -l")
  timeout 20 clinfo -l >"$OUT/clinfo.txt" 2>&1 || true
fi
if command -v nvidia-smi >/dev/null; then
  COMMANDS+=("info"$'\t'"nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader")
  NVSMI="$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
    --format=csv,noheader 2>&1 | head -4 | paste -sd ';' - || true)"
  timeout 20 nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
fi

# The results folder gets its final name: gpu-results/<date>-<device>.
if [ "$OUT_GIVEN" = 0 ]; then
  slug="$(printf '%s' "${DEV_NAME:-no-device}" | tr -c 'A-Za-z0-9._-' '-' | tr -s '-' |
    sed 's/^-//; s/-$//' | cut -c1-48)"
  final="$ROOT/gpu-results/$STAMP-${slug:-device}"
  n=2
  while [ -e "$final" ]; do final="$ROOT/gpu-results/$STAMP-${slug:-device}-$n"; n=$((n + 1)); done
  mv "$OUT" "$final"
  OUT="$final"
  CUR_LOG="$OUT/info.txt"
fi
TUNE_DB="$OUT/tune.json"
step_end

if [ "$DEVICE_OK" = 0 ]; then
  NO_DEVICE="no device (see info)"
  for s in tests bench tune; do step_skip "$s" "no device to run on (see info)"; done
else
  # 4. tests
  if [ ! -e "$BUILD/CTestTestfile.cmake" ] || [ ! -d "$BUILD/tests" ]; then
    step_skip tests "the build folder has no tests (cmocka missing, or the build failed)"
  else
    step_begin tests "$T_TESTS" tests.txt
    CTEST_SEL=(-E "$TEST_EXCLUDE")
    [ -n "$TEST_REGEX" ] && CTEST_SEL+=(-R "$TEST_REGEX")
    # the list of tests that should run, for those a timeout cuts off
    (cd "$BUILD" && ctest -N "${CTEST_SEL[@]}") 2>/dev/null |
      sed -n 's/^ *Test *#[0-9]*: *//p' >"$OUT/.tests-expected" || true
    rm -f "$BUILD/Testing/Temporary/LastTest.log"
    # JUnit XML from CMake 3.21 on (the project needs 3.18)
    JUNIT=()
    if printf '%s\n' 3.21 "$(ctest --version | awk 'NR == 1 { print $3 }')" | sort -V -C; then
      JUNIT=(--output-junit "$OUT/tests.xml")
    fi
    SHOW_ABS=1 step_cmd env -C "$BUILD" SPARQ_DEVICE="$SELECTOR" ctest -j"$JOBS" --output-on-failure \
      "${JUNIT[@]}" "${CTEST_SEL[@]}"
    collect_tests "$OUT/.tests-expected" "$CUR_LOG" "$BUILD/Testing/Temporary/LastTest.log" \
      >"$OUT/tests.tsv"
    [ -e "$BUILD/Testing/Temporary/LastTest.log" ] &&
      cp "$BUILD/Testing/Temporary/LastTest.log" "$OUT/tests-full-output.log"
    rm -f "$OUT/.tests-expected"
    if [ ! -s "$OUT/tests.tsv" ] && [ -z "$CUR_STATUS" ]; then
      CUR_STATUS="failed (no test matched)"
    fi
    step_end "$(awk -F'\t' '{ c[$2]++ } END { printf "%d passed, %d failed, %d timed out, %d skipped, %d not finished", c["passed"], c["failed"], c["timeout"], c["skipped"], c["not finished"] }' "$OUT/tests.tsv")"
  fi

  # 5. the bandwidth roof and the quick bench
  if [ ! -x "$BENCH" ]; then
    step_skip bench "$(show_cmd "$BENCH") is missing"
  else
    step_begin bench "$T_BENCH" bench.txt
    step_cmd env SPARQ_DEVICE="$SELECTOR" SPARQ_CACHE_DIR="$CACHE_DIR" SPARQ_TUNE_DB="$TUNE_DB" \
      "$BENCH" "${BENCH_ARGS[@]}" --json "$OUT/bench.json" --csv "$OUT/bench.csv"
    step_end "$(grep -o '^roof: [0-9.]* GB/s' "$CUR_LOG" | head -1)"
  fi

  # 6. tuning, into the results folder's database only
  step_begin tune "$T_TUNE" tune.txt
  step_cmd env SPARQ_DEVICE="$SELECTOR" SPARQ_CACHE_DIR="$CACHE_DIR" SPARQ_TUNE_DB="$TUNE_DB" \
    "$SPARQ" tune "${TUNE_ARGS[@]}"
  rm -f "$TUNE_DB.lock" # the tuner's lock file, empty
  step_end "$(grep -o '^median speedup.*' "$CUR_LOG" | head -1)"
fi

FINISHED=1
write_summary
echo
echo "gpu_check.sh: done in $(since "$RUN_T0") s; summary: $(show_cmd "$OUT/summary.md")"
rc=0
for s in "${STEPS[@]}"; do
  case "${ST_STATUS[$s]}" in ok | skipped) ;; *) rc=1 ;; esac
  printf '  %-6s %s\n' "$s" "${ST_STATUS[$s]}"
done
exit "$rc"
