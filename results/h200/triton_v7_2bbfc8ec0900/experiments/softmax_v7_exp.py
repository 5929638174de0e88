# Issue 20 experiment: triton.softmax v4's exchange between a long row's parts, fp32 1024 x 131072
# and 4096 x 32768, clean L2 (write + read of 512 MiB before each sample), against the copy.
#   SYNC 0: no exchange (each part normalises by its own max and sum: wrong, an upper bound)
#   SYNC 1: v4 as shipped (module call, slots zeroed each call, atomic polls of every slot)
#   SYNC 2: slots kept across calls, a per-row counter that only grows (epoch target), the slot
#           published by atomic_xchg then a release add; polls are volatile loads of the counter
#   SYNC 3: 2 with nanosleep(NS) between polls
# HINTS: x loaded evict_first, y stored .cs
import sys, torch, triton, triton.language as tl
sys.path.insert(0, "scripts"); sys.path.insert(0, "examples/triton")
import softmax as sm
dev = "cuda"
flush = torch.empty(512 << 20, dtype=torch.uint8, device=dev)


@triton.jit
def _pack(m, total):
    hi = m.to(tl.int32, bitcast=True).to(tl.int64)
    lo = total.to(tl.int32, bitcast=True).to(tl.int64) & 0xFFFFFFFF
    return (hi << 32) | lo


@triton.jit(do_not_specialize=["target"])
def v7_kernel(x_ptr, y_ptr, slots_ptr, count_ptr, target, n_parts, n_cols, stride_x, stride_y, scale,
              BLOCK: tl.constexpr, PARTS: tl.constexpr, SYNC: tl.constexpr, NS: tl.constexpr, HINTS: tl.constexpr):
    pid = tl.program_id(0)
    row = (pid // n_parts).to(tl.int64)
    part = pid % n_parts
    cols = part * BLOCK + tl.arange(0, BLOCK)
    if HINTS:
        x = tl.load(x_ptr + row * stride_x + cols, mask=cols < n_cols, other=0.0, eviction_policy="evict_first")
    else:
        x = tl.load(x_ptr + row * stride_x + cols, mask=cols < n_cols, other=0.0)
    s = tl.where(cols < n_cols, x.to(tl.float32) * scale, float("-inf"))
    m = tl.max(s, 0)
    total = tl.sum(tl.exp(s - m), 0)
    if SYNC == 0:
        row_ref = m
        inv = 1.0 / total
    else:
        tl.atomic_xchg(slots_ptr + row * PARTS + part, _pack(m, total), sem="relaxed")
        tl.atomic_add(count_ptr + row, 1, sem="release")
        c = tl.load(count_ptr + row, volatile=True)
        while c < target:
            if SYNC == 3:
                d = tl.inline_asm_elementwise("nanosleep.u32 $1;\n\tmov.u32 $0, 0;", "=r,r", [c * 0 + NS],
                                              dtype=tl.int32, is_pure=False, pack=1)
                c = tl.load(count_ptr + row + d, volatile=True)
            else:
                c = tl.load(count_ptr + row, volatile=True)
        tl.atomic_add(count_ptr + row, 0, sem="acquire")
        peers = tl.arange(0, PARTS)
        packed = tl.load(slots_ptr + row * PARTS + peers, mask=peers < n_parts, other=0, volatile=True)
        part_max = (packed >> 32).to(tl.int32).to(tl.float32, bitcast=True)
        part_sum = packed.to(tl.int32).to(tl.float32, bitcast=True)
        part_max = tl.where(peers < n_parts, part_max, float("-inf"))
        row_ref = tl.max(part_max, 0)
        inv = 1.0 / tl.sum(tl.where(peers < n_parts, part_sum * tl.exp(part_max - row_ref), 0.0), 0)
    y = tl.exp(s - row_ref) * inv
    if HINTS:
        tl.store(y_ptr + row * stride_y + cols, y, mask=cols < n_cols, cache_modifier=".cs")
    else:
        tl.store(y_ptr + row * stride_y + cols, y, mask=cols < n_cols)


state = {}


def v7(x, block, warps, sync, ns, hints):
    rows, cols = x.shape
    parts = triton.cdiv(cols, block)
    pow2 = triton.next_power_of_2(parts)
    key = (rows, pow2)
    if key not in state:
        state[key] = [torch.zeros((rows, pow2), dtype=torch.int64, device=x.device),
                      torch.zeros((rows,), dtype=torch.int32, device=x.device), 0]
    slots, count, epoch = state[key]
    y = torch.empty_like(x)
    v7_kernel[(rows * parts,)](x, y, slots, count, (epoch + 1) * parts, parts, cols, x.stride(0), y.stride(0), 1.0,
                               BLOCK=block, PARTS=pow2, SYNC=sync, NS=ns, HINTS=hints, num_warps=warps)
    if sync:  # the counter grew by parts a row only when the parts exchanged
        state[key][2] = epoch + 1
    return y


def timeit(fn, n=20):
    ts = []
    for i in range(n + 3):
        torch.cuda._sleep(2_000_000)
        flush.zero_(); flush.sum()
        a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        if i >= 3: ts.append(a.elapsed_time(b))
    ts.sort(); return ts[len(ts) // 2]


print(torch.cuda.get_device_name(0), "triton", triton.__version__, flush=True)
for rows, cols in [(1024, 131072), (4096, 32768)]:
    torch.manual_seed(1)
    x = torch.randn(rows, cols, device=dev) * 3
    ref = torch.softmax(x.double(), 1)
    gbs = lambda ms: 2 * x.numel() * 4 / ms / 1e6
    y = torch.empty_like(x)
    copy = gbs(timeit(lambda: y.copy_(x)))
    print(f"{rows}x{cols} copy: {copy:.0f} GB/s", flush=True)
    v4 = gbs(timeit(lambda: sm.softmax(x, 1.0, "none", None, None, 0.0, 1, 4)))
    print(f"{rows}x{cols} v4 shipped: {v4:.0f} GB/s {100 * v4 / copy:.1f}%", flush=True)
    if cols <= 32768:
        v1 = gbs(timeit(lambda: sm.softmax(x, 1.0, "none", None, None, 0.0, 1, 1)))
        print(f"{rows}x{cols} v1 shipped: {v1:.0f} GB/s {100 * v1 / copy:.1f}%", flush=True)
    for block, warps in [(8192, 8), (4096, 4), (16384, 16), (8192, 4), (4096, 8)]:
        for sync, ns in [(0, 0), (2, 0), (3, 100), (3, 500)]:
            for hints in [False, True]:
                try:
                    out = v7(x, block, warps, sync, ns, hints)
                    err = (out.double() - ref).abs().max().item() if sync else float("nan")
                    r = gbs(timeit(lambda: v7(x, block, warps, sync, ns, hints)))
                    print(f"{rows}x{cols} v7 block {block} warps {warps} sync {sync} ns {ns} hints {int(hints)}: "
                          f"{r:.0f} GB/s {100 * r / copy:.1f}% err {err:.1e}", flush=True)
                except Exception as e:
                    print(f"{rows}x{cols} v7 block {block} warps {warps} sync {sync} ns {ns} hints {int(hints)}: "
                          f"{type(e).__name__} {str(e)[:300]}", flush=True)
