#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fault_test.sh WORKLOAD SHIM WORK_DIR - OpenCL fault injection to exhaustion (issue 25).
#
# Runs WORKLOAD (fault_workload) with SHIM (libopencl_fault.so) preloaded and
# SPARQ_FAULT_AT=N for N = 1, 2, ... up to the number of OpenCL calls a run makes, then
# once past it (no call fails: the sweep reached the end), in two sweeps:
#   1. warm: the program cache (and PoCL's kernel cache) filled by a first run, every
#      interposed entry point; a fault in a program load hits the cached binary's
#      clCreateProgramWithBinary / clBuildProgram;
#   2. off: the program cache off (SPARQ_CACHE=off: every program built from source; PoCL's
#      own cache still warm, so no LLVM compile), only the calls that build programs
#      (clCreateProgramWithSource, clBuildProgram, clGetProgramBuildInfo).
# Any non-zero exit (the workload's own checks, a crash, an abort), anything on stderr (a
# sanitizer report or leak: ASan + LSan when SPARQ_FAULT_PRELOAD names the ASan runtime,
# which must come first; or the library printing) fails the test, printing that run's
# output. Prints what each fault became, and "injected faults survived: K of K".
#
# Environment: SPARQ_FAULT_PRELOAD (prefix of LD_PRELOAD, "libasan.so:" in the sanitizer
# build), SPARQ_FAULT_JOBS (runs at once, default 2), OCL_ICD_VENDORS, LSAN_OPTIONS.
set -uo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 WORKLOAD SHIM WORK_DIR" >&2
    exit 2
fi
workload=$1 shim=$2 work=$3
jobs=${SPARQ_FAULT_JOBS:-2}
preload="${SPARQ_FAULT_PRELOAD:-}$shim"
start=$(date +%s)

rm -rf "$work" && mkdir -p "$work/runs" || exit 1
export XDG_CACHE_HOME="$work/xdg" # PoCL's kernel cache lives under it
# LeakSanitizer does not scan thread-local storage: PoCL dlopens and dlcloses the kernel
# libraries it builds, which can leave a stale dynamic-TLS entry that crashes LSan's
# tracer at exit ("Tracer caught signal 11", "LeakSanitizer has encountered a fatal
# error": about one run in ten after a program is rebuilt). Fewer roots can only report
# more leaks, never hide one.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}use_tls=0"
unset SPARQ_CACHE SPARQ_CACHE_DIR SPARQ_FAULT_AT SPARQ_FAULT_ONLY SPARQ_KERNEL_DIR SPARQ_LOG
export work workload preload

# run_one SWEEP N: the workload with the Nth counted call failing (0: none); its output in
# runs/SWEEP-N.{out,err,count}. Exits 255 (which stops xargs) on any failure.
run_one() {
    local sweep=$1 n=$2 base="$work/runs/$1-$2" cache=on only=""
    if [ "$sweep" = off ]; then
        cache=off
        only=clCreateProgramWithSource,clBuildProgram,clGetProgramBuildInfo
    fi
    # a hang (a fault that leaves something waiting forever) fails too; the first run
    # compiles every kernel
    SPARQ_CACHE="$cache" SPARQ_CACHE_DIR="$work/cache" SPARQ_FAULT_ONLY="$only" \
        SPARQ_FAULT_AT="$n" \
        SPARQ_FAULT_COUNT_FILE="$base.count" \
        timeout "$([ "$sweep" = fill ] && echo 600 || echo 120)" \
        env LD_PRELOAD="$preload" "$workload" >"$base.out" 2>"$base.err"
    local rc=$?
    # stderr stays empty: the library never prints (SPARQ_LOG is unset), PoCL did not
    # complain, no sanitizer reported
    if [ $rc -ne 0 ] || [ ! -s "$base.count" ] || [ -s "$base.err" ]; then
        local hang=""
        [ $rc -ne 124 ] || hang=" (timed out: a hang)"
        echo "FAIL: $sweep sweep, SPARQ_FAULT_AT=$n: exit status $rc$hang"
        [ -s "$base.count" ] || echo "(no count file: the shim's exit handler did not run)"
        cat "$base.out"
        tail -n 80 "$base.err"
        exit 255
    fi
}
export -f run_one

total_faults=0
# sweep NAME: the run without a fault gives the number of counted calls T; then N = 1..T
# (each must fire) and N = T + 1 (must not).
sweep() {
    local name=$1 t0 calls fired
    t0=$(date +%s)
    run_one "$name" 0 || exit 1
    read -r calls fired _ <"$work/runs/$name-0.count"
    if [ "${calls:-0}" -eq 0 ]; then
        echo "FAIL: $name sweep: the shim counted no OpenCL call (is it preloaded?)"
        exit 1
    fi
    seq 1 "$calls" | xargs -P "$jobs" -n 1 bash -c 'run_one "$0" "$1"' "$name" || exit 1
    run_one "$name" $((calls + 1)) || exit 1
    read -r _ fired _ <"$work/runs/$name-$((calls + 1)).count"
    if [ "$fired" != 0 ]; then
        echo "FAIL: $name sweep: a run makes more than the $calls calls of the first one"
        exit 1
    fi
    local n missed=0
    for n in $(seq 1 "$calls"); do
        read -r _ fired _ <"$work/runs/$name-$n.count"
        [ "$fired" = 1 ] || missed=$((missed + 1))
    done
    if [ $missed -ne 0 ]; then
        echo "FAIL: $name sweep: $missed of the runs with N <= $calls had no call fail"
        exit 1
    fi
    echo "== $name sweep: $calls faults injected, $calls survived ($(($(date +%s) - t0)) s)"
    # what each fault became: the entry point, then the sparq call's status or "absorbed"
    for n in $(seq 1 "$calls"); do
        sed -n 's/^fault: \(cl[A-Za-z]*\) (\([A-Z_]*\)) -> \([a-z_]*\).* returned \([A-Z_]*\):.*/\1 \2 -> \3 returned \4/p;
                s/^fault: \(cl[A-Za-z]*\) (\([A-Z_]*\)) absorbed.*/\1 \2 absorbed (the call returned OK, product right)/p' \
            "$work/runs/$name-$n.out"
    done | sort | uniq -c | sort -rn
    total_faults=$((total_faults + calls))
}

# the first run fills the program cache and PoCL's (compiling every kernel: the slow part)
run_one fill 0 || exit 1
echo "== filling the caches: $(($(date +%s) - start)) s"
sweep warm
sweep off
echo "injected faults survived: $total_faults of $total_faults ($(($(date +%s) - start)) s)"
