"""triton.softmax_matmul: softmax(X) @ V fused, without the [d1, d2] softmax in memory (seed 004 part 1).

    X [batch, d1, d2], V [batch, d2, d3] -> O [batch, d1, d3]

One program per BLOCK query rows of one batch element (grid (cdiv(d1, BLOCK), batch)); it walks d2
in chunks of BLOCK columns, keeping a running max m and sum l per row and an fp32 accumulator of
[BLOCK, d3] (d3 padded to a power of two), as the seed's online softmax extended to the product.
BLOCK = BLOCK_1 = BLOCK_2 (the seed's sweep: 16, 32, 64). Rows and columns off the block are
masked, so d1 and d2 need not be multiples of BLOCK. fp32 inputs use IEEE fp32 products in tl.dot
(Triton's default for fp32 is TF32, about 1e-3 off, over fa-bench's fp32 tolerance); tf32 uses TF32.

Versions (the `version` parameter):
  v1  the seed's update as written: after each chunk O = O * (l_prev / l_new) * exp(m_prev - m_new)
      + (exp(X_j - m_new) / l_new) @ V_j, so O is normalised at every step.
  v2  FlashAttention-2's order: O = O * exp(m_prev - m_new) + exp(X_j - m_new) @ V_j and one division
      by l at the end: one [BLOCK, d3] multiply and a [BLOCK, BLOCK] division fewer per chunk.
The accumulator is BLOCK x d3 fp32 registers (d3 512, BLOCK 64: 128 KiB a program): 4 warps at
BLOCK 16, 8 at 32, 16 at 64 (compiled for sm_90 with d3 512: at BLOCK 32 4 warps spill and 8 do not;
at BLOCK 64 fp32 8 warps spill 18 KiB a thread, 16 warps 0.5 KiB). The loads are pipelined over as many stages (1-3) as an X and a V chunk
fit in 200 KiB of shared memory (fp32 BLOCK 64, d3 512: 1 stage; 3 stages would ask 312 KiB, over
the 227 KiB an H100/H200 block may have). What still does not fit fails with Triton's OutOfResources,
which the runner records as an `unsupported` row (seed 004 section 1.5.1.6).
"""
import torch
import triton
import triton.language as tl

from fabench_user import variant


@triton.jit
def softmax_matmul_kernel(x_ptr, v_ptr, o_ptr, d1, d2, d3, sxb, sx1, sx2, svb, sv2, sv3, sob, so1, so3,
                          BLOCK: tl.constexpr, D3: tl.constexpr, NORMALISE_EACH_STEP: tl.constexpr,
                          PRECISION: tl.constexpr):
    pid = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    rows = pid * BLOCK + tl.arange(0, BLOCK)
    cols3 = tl.arange(0, D3)
    row_in = rows < d1
    m = tl.full([BLOCK], float("-inf"), tl.float32)
    l = tl.zeros([BLOCK], tl.float32)
    acc = tl.zeros([BLOCK, D3], tl.float32)
    for start in range(0, d2, BLOCK):
        k = start + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + b * sxb + rows[:, None] * sx1 + k[None, :] * sx2,
                    mask=row_in[:, None] & (k < d2)[None, :], other=float("-inf")).to(tl.float32)
        v = tl.load(v_ptr + b * svb + k[:, None] * sv2 + cols3[None, :] * sv3,
                    mask=(k < d2)[:, None] & (cols3 < d3)[None, :], other=0.0)
        m_new = tl.maximum(m, tl.max(x, 1))
        m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)  # rows off the block see only -inf
        alpha = tl.exp(m - m_ref)
        p = tl.exp(x - m_ref[:, None])
        l_new = l * alpha + tl.sum(p, 1)
        if NORMALISE_EACH_STEP:
            inv = tl.where(l_new > 0, 1.0 / l_new, 0.0)
            acc = acc * (l * alpha * inv)[:, None] + tl.dot((p * inv[:, None]).to(v.dtype), v,
                                                           input_precision=PRECISION)
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m, l = m_new, l_new
    if not NORMALISE_EACH_STEP:
        acc = acc * tl.where(l > 0, 1.0 / l, 0.0)[:, None]
    tl.store(o_ptr + b * sob + rows[:, None] * so1 + cols3[None, :] * so3, acc.to(o_ptr.dtype.element_ty),
             mask=row_in[:, None] & (cols3 < d3)[None, :])


PRECISION = {"fp32": "ieee", "tf32": "tf32", "fp16": None, "bf16": None}  # None: tl.dot's default


@variant("triton.softmax_matmul", op="softmax_matmul", dtypes=["fp32", "tf32", "fp16", "bf16"],
         params={"BLOCK": [16, 32, 64], "version": [1, 2]},
         description="softmax(X) @ V fused: online softmax over BLOCK-wide chunks of d2 (seed 004 part 1)")
def softmax_matmul(x, v, dtype, BLOCK, version):
    batch, d1, d2 = x.shape
    d3 = v.shape[2]
    o = torch.empty(batch, d1, d3, dtype=x.dtype, device=x.device)
    D3 = max(16, triton.next_power_of_2(d3))
    stage = (BLOCK * BLOCK + BLOCK * D3) * x.element_size()  # an X and a V chunk in shared memory
    grid = (triton.cdiv(d1, BLOCK), batch)
    softmax_matmul_kernel[grid](x, v, o, d1, d2, d3, *x.stride(), *v.stride(), *o.stride(), BLOCK=BLOCK, D3=D3,
                                NORMALISE_EACH_STEP=version == 1, PRECISION=PRECISION[dtype],
                                num_warps={16: 4, 32: 8}.get(BLOCK, 16), num_stages=max(1, min(3, (200 << 10) // stage)))
    return o
