#!/usr/bin/env python3
"""The shipped Triton kernels (examples/triton/) compiled for sm_90 (H100/H200) without a GPU, as a
launch would compile them (pointers and strides 16-aligned, as Triton specialises them): each
compiles (the interpreter that tests/user_kernels_test.py uses does not compile, so it misses
errors only the compiler sees), fits in the 227 KiB of shared memory a block may have, and prints
its registers, stack (spills) and shared memory. Exit 77 (skipped) without triton.
Usage: triton_compile_test.py"""
import os
import re
import subprocess
import sys
import tempfile

try:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
except ImportError:
    print("triton is not installed: skipped")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "scripts"), os.path.join(HERE, "..", "examples", "triton")]
import attention  # noqa: E402
import attention_bwd  # noqa: E402
import sparse  # noqa: E402
import softmax  # noqa: E402
import softmax_matmul  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
SHARED_LIMIT = 232448  # bytes of shared memory a block may have on sm_90
CUOBJDUMP = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
failures = []


def resources(kernel):
    """(registers, stack bytes) from the cubin, or None."""
    if not os.path.exists(CUOBJDUMP):
        return None
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        out = subprocess.run([CUOBJDUMP, "--dump-resource-usage", f.name], capture_output=True, text=True).stdout
    m = re.search(r"REG:(\d+) STACK:(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def build(label, fn, types, consts, num_warps, num_stages=3, must_fit=True):
    """Compiles fn with argument types (default i32), constexprs and launch options."""
    sig = {n: "constexpr" if n in consts else types.get(n, "i32") for n in fn.arg_names}
    aligned = {(i,): [["tt.divisibility", 16]] for i, n in enumerate(fn.arg_names)
               if n not in consts and n not in ("seed", "scale")
               and (n.endswith("_ptr") or n.startswith("stride_") or re.match(r"^s[a-z][a-z0-9]{1,2}$", n))}
    try:
        src = ASTSource(fn, sig, constexprs={(fn.arg_names.index(k),): v for k, v in consts.items()}, attrs=aligned)
        k = triton.compile(src, target=TARGET, options={"num_warps": num_warps, "num_stages": num_stages})
    except Exception as e:  # noqa: BLE001
        failures.append(f"{label}: {type(e).__name__}: {str(e)[:500]}")
        print(f"FAILED {label}: {type(e).__name__}: {str(e)[:500]}")
        return
    shared = k.metadata.shared
    res = resources(k)
    text = f"regs {res[0]}, stack {res[1]} B" if res else "regs ?"
    print(f"{label}: shared {shared} B, {text}")
    if must_fit and shared > SHARED_LIMIT:
        failures.append(f"{label}: {shared} B of shared memory, over {SHARED_LIMIT}")


for dt, cols, version, mask, dropout in [("fp32", 4096, 1, 0, False), ("fp32", 4096, 1, 2, True), ("bf16", 32768, 1, 3, True),
                                          ("fp16", 1000, 1, 1, False), ("fp32", 1, 1, 1, True), ("fp32", 131072, 2, 2, True), ("bf16", 4100, 2, 0, False),
                                          ("fp32", 4096, 3, 0, False), ("fp32", 4096, 3, 3, True), ("bf16", 32768, 3, 2, False)]:
    fn = {1: softmax.softmax_v1_kernel, 2: softmax.softmax_v2_kernel, 3: softmax.softmax_v3_kernel}[version]
    block = softmax.V2_CHUNK if version == 2 else triton.next_power_of_2(cols)
    warps = 8 if version == 2 else 4 if block <= 1024 else 8 if block <= 4096 else 16
    consts = {"MASK": mask, "DROPOUT": dropout, "BLOCK": block} | ({"NUM_STAGES": 2} if version == 3 else {})
    types = {"x_ptr": "*" + dt, "y_ptr": "*" + dt, "mask_ptr": "*u8", "len_ptr": "*i32", "scale": "fp32",
             "keep_scale": "fp32", "seed": "i64"}
    build(f"triton.softmax v{version} {dt} cols {cols} mask {mask} dropout {dropout}", fn, types,
          consts, warps)

# v4 (a row in parts that meet through 64-bit slots), v5 (v4 persistent) and v6 (two passes, the
# second from L2): parts of 8192 columns (16 of a 131072-column row), v6's chunks of 4096
for dt, version, mask, dropout in [("fp32", 4, 0, False), ("bf16", 4, 2, True), ("fp32", 5, 0, False),
                                   ("fp32", 5, 3, True), ("fp32", 6, 0, False), ("bf16", 6, 1, True)]:
    fn = {4: softmax.softmax_v4_kernel, 5: softmax.softmax_v5_kernel, 6: softmax.softmax_v6_kernel}[version]
    consts = {"MASK": mask, "DROPOUT": dropout}
    consts |= {"BLOCK": softmax.V6_BLOCK, "NUM_STAGES": 3} if version == 6 else {"BLOCK": softmax.V4_BLOCK, "PARTS": 16}
    types = {"x_ptr": "*" + dt, "y_ptr": "*" + dt, "mask_ptr": "*u8", "len_ptr": "*i32", "slots_ptr": "*i64",
             "scale": "fp32", "keep_scale": "fp32", "seed": "i64"}
    build(f"triton.softmax v{version} {dt} mask {mask} dropout {dropout}", fn, types, consts,
          8 if version == 6 else softmax.V4_WARPS)

# v7 (v4's parts meeting by relaxed atomics, exponentials before the wait): parts of 4096 columns
# (32 of a 131072-column row)
for dt, mask, dropout in [("fp32", 0, False), ("bf16", 2, True), ("fp16", 3, True)]:
    types = {"x_ptr": "*" + dt, "y_ptr": "*" + dt, "mask_ptr": "*u8", "len_ptr": "*i32", "slots_ptr": "*i64",
             "scale": "fp32", "keep_scale": "fp32", "seed": "i64"}
    build(f"triton.softmax v7 {dt} mask {mask} dropout {dropout}", softmax.softmax_v7_kernel, types,
          {"MASK": mask, "DROPOUT": dropout, "BLOCK": softmax.V7_BLOCK, "PARTS": 32}, softmax.V7_WARPS)

for dt, block, version in [("fp32", 16, 1), ("fp32", 32, 2), ("fp32", 64, 2), ("bf16", 64, 1), ("fp16", 16, 2), ("tf32", 32, 2)]:
    d3 = 512
    el = 4 if dt in ("fp32", "tf32") else 2
    stages = max(1, min(3, (200 << 10) // ((block * block + block * d3) * el)))
    types = {n: "*" + ("fp32" if dt == "tf32" else dt) for n in ("x_ptr", "v_ptr", "o_ptr")}
    build(f"triton.softmax_matmul {dt} BLOCK {block} v{version}", softmax_matmul.softmax_matmul_kernel, types,
          {"BLOCK": block, "D3": d3, "NORMALISE_EACH_STEP": version == 1, "PRECISION": softmax_matmul.PRECISION[dt],
           "sx2": 1, "sv3": 1, "so3": 1},  # unit strides: Triton specialises an int argument of 1
          {16: 4, 32: 8}.get(block, 16), stages)

for dt, d, bm, bn, warps, causal in [("bf16", 128, 128, 64, 8, False), ("bf16", 128, 128, 64, 8, True), ("bf16", 64, 128, 128, 4, True),
                                     ("fp16", 64, 64, 64, 4, False), ("bf16", 256, 64, 64, 4, True), ("fp32", 64, 64, 64, 4, True),
                                     ("tf32", 128, 64, 64, 4, False), ("bf16", 96, 64, 64, 4, True),
                                     ("fp16", 24, 64, 64, 4, True)]:
    el = "fp32" if dt == "tf32" else dt
    D = max(16, triton.next_power_of_2(d))
    types = {"q_ptr": "*" + el, "k_ptr": "*" + el, "v_ptr": "*" + el, "o_ptr": "*" + el, "lse_ptr": "*fp32", "qk_scale": "fp32"}
    build(f"triton.fa2 {dt} d {d} BLOCK_M {bm} BLOCK_N {bn} warps {warps} causal {causal}", attention.fa2_v1_kernel, types,
          {"HEAD_DIM": d, "D": D, "BLOCK_M": bm, "BLOCK_N": bn, "CAUSAL": causal, "PRECISION": attention.PRECISION[dt]},
          warps, 3 if D <= 128 else 2)

for dt, d, bm, bn, causal in [("bf16", 128, 64, 64, True), ("fp32", 64, 32, 32, False), ("fp16", 24, 32, 64, True)]:
    D = max(16, triton.next_power_of_2(d))
    types = {"q_ptr": "*" + dt, "k_ptr": "*" + dt, "v_ptr": "*" + dt, "o_ptr": "*fp32", "l_ptr": "*fp32",
             "m_ptr": "*fp32", "scale": "fp32"}
    build(f"triton.fa1 {dt} d {d} BLOCK_M {bm} BLOCK_N {bn} causal {causal}", attention.fa1_v1_kernel, types,
          {"HEAD_DIM": d, "D": D, "BLOCK_M": bm, "BLOCK_N": bn, "CAUSAL": causal, "PRECISION": attention.PRECISION[dt]}, 4)

# v1 tiles the mask's block (TILE = block); v2 tiles it by at most 64 (fp32 on blocks of 128)
for dt, d, block, tile, warps in [("bf16", 128, 64, 64, 4), ("bf16", 128, 128, 128, 8), ("fp16", 64, 128, 128, 4),
                                  ("fp32", 64, 64, 64, 4), ("tf32", 128, 64, 64, 4), ("bf16", 96, 64, 64, 4),
                                  ("fp32", 64, 128, 64, 4), ("bf16", 128, 128, 64, 4)]:
    el = "fp32" if dt == "tf32" else dt
    D = max(16, triton.next_power_of_2(d))
    types = {"q_ptr": "*" + el, "k_ptr": "*" + el, "v_ptr": "*" + el, "o_ptr": "*" + el, "lse_ptr": "*fp32",
             "kind_ptr": "*u8", "num_ptr": "*i32", "idx_ptr": "*i32", "mask_ptr": "*u8", "qk_scale": "fp32"}
    build(f"triton.sparse {dt} d {d} block {block} tile {tile} warps {warps}", sparse.sparse_kernel, types,
          {"HEAD_DIM": d, "D": D, "BLOCK": block, "TILE": tile, "PRECISION": sparse.PRECISION[dt]}, warps, 2)

for dt, d, bm, bn, warps, causal in [("bf16", 128, 64, 64, 4, True), ("bf16", 128, 128, 64, 8, False),
                                     ("fp16", 64, 64, 128, 4, True), ("fp32", 64, 32, 32, 4, True),
                                     ("tf32", 128, 64, 32, 4, False), ("bf16", 96, 32, 64, 4, True)]:
    el = "fp32" if dt == "tf32" else dt
    D = max(16, triton.next_power_of_2(d))
    types = {n: "*" + el for n in ("q_ptr", "k_ptr", "v_ptr", "o_ptr", "do_ptr", "dq_ptr", "dk_ptr", "dv_ptr")}
    types.update(lse_ptr="*fp32", delta_ptr="*fp32", scale="fp32", qk_scale="fp32")
    consts = {"HEAD_DIM": d, "D": D, "BLOCK_M": bm, "BLOCK_N": bn, "CAUSAL": causal,
              "PRECISION": attention_bwd.PRECISION[dt]}
    label = f"{dt} d {d} BLOCK_M {bm} BLOCK_N {bn} warps {warps} causal {causal}"
    build(f"triton.fa2_bwd dK/dV {label}", attention_bwd.bwd_dkdv_kernel, types, consts, warps, 2)
    build(f"triton.fa2_bwd dQ {label}", attention_bwd.bwd_dq_kernel, types, consts, warps, 2)
    build(f"triton.fa2_bwd D {dt} d {d} BLOCK_M {bm}", attention_bwd.bwd_preprocess_kernel, types,
          {"HEAD_DIM": d, "D": D, "BLOCK_M": bm}, warps, 1)

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
