#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""gpu_build.py - the GPU build gate (ctest gpu_build): compiles every job gpu_build_jobs
lists (each registry kernel x encoding x its GPU defaults and tuner candidates) offline for
NVIDIA (clang nvptx64 + libclc, then ptxas -v for sm_80 / sm_90), AMD (clang amdgcn +
libclc for gfx90a / gfx1100) and Intel (ocloc for acm-g10 / tgllp), and writes a table of
registers, spills, scratch, local memory and occupancy. Fails when a job does not build,
when a GPU default spills, when a kernel helper is not static, or when a helper made
non-static again would go unseen (the sabotage self-check).

usage: gpu_build.py JOBS_PROGRAM OUT_DIR [--kernels NAME,...] [--all-targets]
Defaults build on all six targets; candidates on sm_80 (--all-targets: everywhere) to stay
inside the gate's time. Outputs are cached in OUT_DIR/cache by a hash of
source, options, target and tool, so reruns only compile what changed. A missing
toolchain skips its targets with a message, and fails the gate when CI is set.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Defaults build on every target, candidates on sm_80 (registers and spills per candidate,
# the cheapest toolchain): a cold run of everything stays within minutes on 2 cores.
CANDIDATE_TARGETS = {"sm_80"}
# clang's nvptx target leaves cl_khr_fp16 off, and its header then hides the half loads
# (vload_half) that every OpenCL device has; NVIDIA's driver has the extension.
NVPTX_FLAGS = ["-Xclang", "-cl-ext=+cl_khr_fp16"]
CLC = "/usr/lib/clc"
CUDA_PTXAS = ["ptxas", "/usr/local/cuda/bin/ptxas"]


def which(names):
    for name in names:
        path = shutil.which(name) or (name if os.path.isfile(name) else None)
        if path:
            return path
    return None


def toolchains():
    """Per vendor: the tools found, or the reason it is missing."""
    clang = which(["clang-14", "clang"])
    ptxas = which(CUDA_PTXAS)
    ocloc = which(["ocloc"])
    nv_bc = os.path.join(CLC, "nvptx64--nvidiacl.bc")
    amd_bc = os.path.join(CLC, "amdgcn--amdhsa.bc")
    found = {}
    missing = {}
    if clang and ptxas and os.path.isfile(nv_bc):
        found["nvidia"] = {"clang": clang, "ptxas": ptxas, "bc": nv_bc}
    else:
        missing["nvidia"] = "needs clang-14, libclc-14 (%s) and CUDA's ptxas" % nv_bc
    if clang and os.path.isfile(amd_bc):
        found["amd"] = {"clang": clang, "bc": amd_bc}
    else:
        missing["amd"] = "needs clang-14 and libclc-14 (%s)" % amd_bc
    if ocloc:
        found["intel"] = {"ocloc": ocloc}
    else:
        missing["intel"] = "needs ocloc (Debian: intel-opencl-icd)"
    return found, missing


VENDOR = {"sm_80": "nvidia", "sm_90": "nvidia", "gfx90a": "amd", "gfx1030": "amd",
          "acm-g10": "intel", "tgllp": "intel"}


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    return p.returncode, p.stdout


def clang_cl(tools, triple, extra, src, options, out, cwd):
    """clang's OpenCL front end with libclc's built-ins linked in: assembly into out. extra
    comes after -O2, so an -O0 there wins."""
    cmd = [tools["clang"], "-x", "cl", "-target", triple, "-O2"] + extra + [
        "-Xclang", "-finclude-default-header", "-Xclang", "-mlink-bitcode-file",
        "-Xclang", tools["bc"], "-Wno-linker-warnings", "-S", "-o", out, src]
    return run(cmd + options.split(), cwd)


def ptx_v4_loads(ptx):
    """Per entry function of the PTX: its 128-bit global loads (ld.global.v4 and
    ld.global.nc.v4 of 32-bit elements, v2 of 64-bit ones), the loads that read a weight
    stream in 16-byte chunks."""
    counts, name = {}, None
    with open(ptx) as f:
        for line in f:
            m = re.match(r"\s*\.(?:visible\s+)?\.entry\s+(\w+)", line)
            if m:
                name = m.group(1)
                counts[name] = 0
            elif name and re.search(r"\bld\.global(\.nc)?\.(v4\.(b|u|s|f)32|v2\.(b|u|s|f)64)\b",
                                    line):
                counts[name] += 1
    return counts


def nvidia(tools, target, src, options, work, cwd, opt="-O2"):
    """ptxas -v per entry: registers, spill bytes, stack, shared memory."""
    ptx = os.path.join(work, "k.ptx")
    rc, log = clang_cl(tools, "nvptx64-unknown-nvidiacl", NVPTX_FLAGS + [opt], src, options,
                       ptx, cwd)
    if rc != 0:
        return {"error": log[-2000:]}
    v4_loads = ptx_v4_loads(ptx)
    rc, log = run([tools["ptxas"], "-v", "--gpu-name", target, ptx, "-o", os.devnull], cwd)
    if rc != 0:
        return {"error": log[-2000:]}
    kernels, name = {}, None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            name = m.group(1)
            kernels[name] = {"registers": 0, "spill": 0, "scratch": 0, "local": 0,
                             "v4": v4_loads.get(name, 0)}
            continue
        if name is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill "
                      r"loads", line)
        if m:
            kernels[name]["scratch"] = int(m.group(1))
            kernels[name]["spill"] = int(m.group(2)) + int(m.group(3))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            kernels[name]["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            kernels[name]["local"] = int(s.group(1)) if s else 0
    return {"kernels": kernels}


def amd(tools, target, src, options, work, cwd):
    """The assembly's per-kernel comments: VGPRs (+AGPRs), scratch, LDS, occupancy."""
    asm = os.path.join(work, "k.s")
    rc, log = clang_cl(tools, "amdgcn-amd-amdhsa", ["-mcpu=" + target, "-nogpulib"], src,
                       options, asm, cwd)
    if rc != 0:
        return {"error": log[-2000:]}
    kernels, name, current = {}, None, None
    with open(asm) as f:
        for line in f:
            m = re.match(r"\s*\.size\s+(\w+),", line)
            if m:
                name = m.group(1)
            if line.startswith("; Kernel info:"):
                current = kernels.setdefault(name, {"registers": 0, "spill": 0, "scratch": 0,
                                                    "local": 0, "occupancy": 0})
            elif line.startswith("; Function info:"):
                current = None
            elif current is not None:
                m = re.match(r"; (TotalNumVgprs|NumVgprs|ScratchSize|LDSByteSize|Occupancy):"
                             r" (\d+)", line)
                if m:
                    key = {"TotalNumVgprs": "registers", "NumVgprs": "registers",
                           "ScratchSize": "scratch", "LDSByteSize": "local",
                           "Occupancy": "occupancy"}[m.group(1)]
                    value = int(m.group(2))
                    current[key] = max(current[key], value) if key == "registers" else value
    for k in kernels.values():  # scratch is spilled registers or private arrays in memory
        k["spill"] = k["scratch"]
    return {"kernels": kernels}


def intel(tools, target, src, options, work, cwd):
    """ocloc's build log: a kernel that spills says so ("spilled around N")."""
    rc, log = run([tools["ocloc"], "compile", "-file", src, "-device", target, "-options",
                   options, "-out_dir", work], cwd)
    if rc != 0 or "Build failed" in log:
        return {"error": log[-2000:]}
    kernels = {}
    for m in re.finditer(r"kernel (\w+)\s+compiled SIMD(\d+) allocated (\d+) regs and spilled "
                         r"around (\d+)", log):
        kernels[m.group(1)] = {"registers": int(m.group(3)), "spill": int(m.group(4)),
                               "scratch": 0, "local": 0, "simd": int(m.group(2))}
    return {"kernels": kernels, "spills_reported_only": True}


COMPILERS = {"nvidia": nvidia, "amd": amd, "intel": intel}
RECIPE_VERSION = 3  # bump when a compile or parse step changes


# What the host adds for a device of the target's kind (sparq_program_options:
# SPARQ_HAS_SUBGROUPS where the device has cl_khr_subgroups or cl_intel_subgroups;
# SPARQ_HAS_INTEGER_DOT and OpenCL C 3.0 where an OpenCL 3.0 device has
# cl_khr_integer_dot_product), so that the paths a real device takes are built: Intel's
# GPUs have both (ocloc has the packed dot products); NVIDIA's OpenCL has no subgroups,
# and libclc has neither subgroup functions nor the dot products for clang's targets.
TARGET_FEATURES = {"acm-g10": {"subgroups", "integer_dot"}, "tgllp": {"subgroups", "integer_dot"}}


def target_options(options, target):
    features = TARGET_FEATURES.get(target, set())
    if "integer_dot" in features:
        options = options.replace("-cl-std=CL1.2", "-cl-std=CL3.0")
        options += " -DSPARQ_HAS_INTEGER_DOT=1"
    if "subgroups" in features:
        options += " -DSPARQ_HAS_SUBGROUPS=1"
    return options


def compile_job(job, target, found, src_dir, cache_dir):
    job = dict(job, options=target_options(job["options"], target))
    tools = found[VENDOR[target]]
    with open(os.path.join(src_dir, job["source"]), "rb") as f:
        text = f.read()
    recipe = json.dumps([tools, NVPTX_FLAGS, RECIPE_VERSION], sort_keys=True)
    key = hashlib.sha256(text + b"\0" + job["options"].encode() + b"\0" + target.encode() +
                         b"\0" + recipe.encode()).hexdigest()[:32]
    cached = os.path.join(cache_dir, key + ".json")
    if os.path.isfile(cached):
        with open(cached) as f:
            return json.load(f)
    with tempfile.TemporaryDirectory() as work:
        result = COMPILERS[VENDOR[target]](tools, target, job["source"], job["options"], work,
                                           src_dir)
    with open(cached + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(cached + ".tmp", cached)
    return result


def read_jobs(program, src_dir, only):
    p = subprocess.run([program, src_dir], stdout=subprocess.PIPE, text=True, check=True)
    jobs = []
    for line in p.stdout.splitlines():
        kernel, source, fmt, params, default, targets, wg, options = line.split("\t")
        if only and kernel not in only:
            continue
        jobs.append({"kernel": kernel, "source": source, "format": fmt, "params": params,
                     "default": default == "1", "targets": targets.split(","),
                     "work_group": int(wg), "options": options})
    return jobs


def lint_static(src_dir):
    """Every function a kernel file defines is static or a __kernel: a plain C99 `inline`
    is no definition, and a call the compiler does not inline is an undefined symbol."""
    bad = []
    head = re.compile(r"^[A-Za-z_]\w*(\s+[\w()]+)*\s+\**\w+\(")
    for name in sorted(os.listdir(src_dir)):
        previous = ""
        with open(os.path.join(src_dir, name)) as f:
            for number, line in enumerate(f, 1):
                definition = head.match(line) and not line.rstrip().endswith(";")
                if definition and not line.startswith(("static", "typedef", "__kernel")) \
                        and not previous.startswith("__kernel"):
                    bad.append("%s:%d: %s" % (name, number, line.strip()))
                if line.strip():
                    previous = line
    return bad


def sabotage_fails(found, src_dir, jobs, work):
    """spmm_bsr.cl with `static` taken from bsr_tile must fail for NVIDIA (ptxas:
    Unresolved extern function), or the gate could not see the fault it guards against.
    Built at -O0, where no call is inlined: at -O2 the fault shows only where the compiler
    chooses not to inline (the CPU defaults of spmm_bsr_tile, on a 16x16 block)."""
    job = next((j for j in jobs if j["kernel"] == "spmm_bsr_tile" and j["default"] and
                "sm_80" in j["targets"]), None)
    if job is None:
        return None
    with open(os.path.join(src_dir, job["source"])) as f:
        text = f.read()
    broken = text.replace("static inline void bsr_tile(", "inline void bsr_tile(")
    if broken == text:
        return False
    path = os.path.join(work, job["source"])
    with open(path, "w") as f:
        f.write(broken)
    with tempfile.TemporaryDirectory() as tmp:
        result = nvidia(found["nvidia"], "sm_80", path, job["options"], tmp, work, "-O0")
    return "error" in result and "Unresolved extern function 'bsr_tile'" in result["error"]


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    program, out = argv[1], argv[2]
    only = set()
    all_targets = "--all-targets" in argv
    if "--kernels" in argv:
        only = set(argv[argv.index("--kernels") + 1].split(","))
    ci = os.environ.get("CI", "") not in ("", "0", "false")
    src_dir, cache_dir = os.path.join(out, "src"), os.path.join(out, "cache")
    os.makedirs(src_dir, exist_ok=True)
    os.makedirs(cache_dir, exist_ok=True)
    found, missing = toolchains()
    failures = []
    for vendor, why in sorted(missing.items()):
        print("gpu_build: %s targets skipped: %s" % (vendor, why))
        if ci:
            failures.append("toolchain for %s missing under CI: %s" % (vendor, why))
    jobs = read_jobs(program, src_dir, only)
    bad = lint_static(src_dir)
    failures += ["helper not static: " + b for b in bad]

    work = []
    for job in jobs:
        for target in job["targets"]:
            if VENDOR[target] in found and (job["default"] or all_targets or
                                            target in CANDIDATE_TARGETS):
                work.append((job, target))
    rows = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {pool.submit(compile_job, job, target, found, src_dir, cache_dir):
                   (job, target) for job, target in work}
        for future in concurrent.futures.as_completed(futures):
            job, target = futures[future]
            rows.append((job, target, future.result()))
    rows.sort(key=lambda r: (r[0]["kernel"], r[0]["format"], not r[0]["default"],
                             r[0]["params"], r[1]))

    if "nvidia" in found:
        with tempfile.TemporaryDirectory() as tmp:
            caught = sabotage_fails(found, src_dir, jobs, tmp)
        if caught is False:
            failures.append("sabotage self-check: bsr_tile without static built for sm_80")
    table = write_table(out, rows)
    for job, target, result in rows:
        where = "%s %s %s on %s" % (job["kernel"], job["format"], job["params"], target)
        if "error" in result:
            failures.append("does not build: %s\n%s" % (where, result["error"]))
            continue
        k = result["kernels"].get(job["kernel"])
        if job["default"] and k and k["spill"] > 0:
            failures.append("GPU default spills: %s: %d bytes" % (where, k["spill"]))
    print("gpu_build: %d jobs, %d builds (%s), table in %s" %
          (len(jobs), len(rows), ", ".join(sorted(found)) or "no toolchain", table))
    for f in failures:
        print("FAIL " + f)
    if not rows and not ci:
        print("gpu_build: no GPU toolchain found; nothing checked")
    return 1 if failures else 0


# Per SM: 32-bit registers, resident warps and blocks, shared memory (sm_80: 164 KiB).
NVIDIA_SM = {"sm_80": (65536, 64, 32, 164 * 1024), "sm_90": (65536, 64, 32, 228 * 1024)}


def nvidia_occupancy(target, k, work_group):
    """Resident warps per SM over the most it holds, from registers (allocated per warp in
    units of 256), shared memory and the work-group size; "" when the size is not known."""
    if target not in NVIDIA_SM or not work_group or not k.get("registers"):
        return ""
    regs_sm, warps_sm, blocks_sm, smem_sm = NVIDIA_SM[target]
    warps = (work_group + 31) // 32
    per_warp = (k["registers"] * 32 + 255) // 256 * 256
    blocks = min(blocks_sm, warps_sm // warps, regs_sm // (per_warp * warps))
    if k.get("local"):
        blocks = min(blocks, smem_sm // k["local"])
    return "%d%%" % (100 * blocks * warps // warps_sm)


def write_table(out, rows):
    path = os.path.join(out, "gpu_build.md")
    with open(path, "w") as f:
        f.write("# GPU build gate (tests/gpu_build)\n\nOffline builds of every registry kernel "
                "(defaults on every target, candidates on sm_80). registers: NVIDIA per "
                "thread (ptxas), AMD VGPRs+AGPRs, Intel GRFs when it spills; spill: NVIDIA "
                "spill bytes, AMD scratch, Intel's spill estimate; occupancy: NVIDIA resident "
                "warps per SM (where the work-group size is known), AMD waves per SIMD; "
                "128-bit loads: NVIDIA's ld.global(.nc).v4 (32-bit elements) and .v2 (64-bit) "
                "in the kernel's PTX, the loads of 16-byte chunks.\n\n")
        f.write("| kernel | format | params | default | target | status | registers | "
                "spill B | scratch B | local B | occupancy | 128-bit loads |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for job, target, result in rows:
            k = result.get("kernels", {}).get(job["kernel"], {})
            status = "FAIL" if "error" in result else "ok"
            occupancy = k.get("occupancy", "")  # AMD: waves per SIMD
            if "simd" in k:
                occupancy = "SIMD%d" % k["simd"]
            if VENDOR[target] == "nvidia":
                occupancy = nvidia_occupancy(target, k, job["work_group"])
            f.write("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
                job["kernel"], job["format"], job["params"], "yes" if job["default"] else "",
                target, status, k.get("registers", "-") or "-", k.get("spill", 0),
                k.get("scratch", 0), k.get("local", 0), occupancy, k.get("v4", "")))
    return path


if __name__ == "__main__":
    sys.exit(main(sys.argv))
