# triton.softmax v6 (two passes, the second from
# L2, few persistent programs) against v4 and v1 at long rows, fp32, clean L2 as fabench_core.
import sys, torch
sys.path.insert(0, "scripts"); sys.path.insert(0, "examples/triton")
import softmax as sm
dev = "cuda"
flush = torch.empty(512 << 20, dtype=torch.uint8, device=dev)
print(torch.cuda.get_device_properties(0))
def timeit(fn, n=20):
    ts = []
    for i in range(n + 3):
        flush.zero_(); flush.sum()
        a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        if i >= 3: ts.append(a.elapsed_time(b))
    ts.sort(); return ts[len(ts) // 2]
for rows, cols in [(1024, 131072), (4096, 32768)]:
    x = torch.randn(rows, cols, device=dev)
    ref = torch.softmax(x.double(), 1)
    y = torch.empty_like(x)
    gbs = lambda ms: 2 * x.numel() * 4 / ms / 1e6
    print(f"{rows}x{cols} copy: {gbs(timeit(lambda: y.copy_(x))):.0f} GB/s", flush=True)
    print(f"{rows}x{cols} v4: {gbs(timeit(lambda: sm.softmax(x, 1.0, 'none', None, None, 0.0, 1, 4))):.0f} GB/s", flush=True)
    for block, stages, warps in [(4096, 3, 8), (8192, 3, 8), (8192, 4, 16), (4096, 4, 4), (16384, 2, 16)]:
        sm.V6_BLOCK, sm.V6_STAGES, sm.V6_WARPS = block, stages, warps
        for programs in [None, 32, 50, 64, 96, 132, 264]:
            sm.V6_PROGRAMS = programs
            try:
                out = sm.softmax(x, 1.0, "none", None, None, 0.0, 1, 6)
                err = (out.double() - ref).abs().max().item()
                ms = timeit(lambda: sm.softmax(x, 1.0, "none", None, None, 0.0, 1, 6))
                print(f"{rows}x{cols} v6 block {block} stages {stages} warps {warps} programs {programs or sm.v6_programs(x, rows, cols)}: "
                      f"{gbs(ms):.0f} GB/s err {err:.1e}", flush=True)
            except Exception as e:
                print(f"{rows}x{cols} v6 block {block} stages {stages} warps {warps}: {type(e).__name__} {str(e)[:150]}", flush=True)
