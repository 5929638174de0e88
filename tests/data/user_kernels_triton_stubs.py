"""Triton kernels that cannot run, for tests/user_kernels_test.py: a compile-time assertion on a block
size (both in the interpreter and compiled) and, on a GPU, a tile too large for shared memory
(Triton's OutOfResources at launch). Both must be `unsupported` rows, and the sweep goes on."""
import torch
import triton
import triton.language as tl

from fabench_user import variant


@triton.jit
def _row_kernel(x_ptr, y_ptr, cols, BLOCK: tl.constexpr, REQUIRE_DIVIDES: tl.constexpr):
    tl.static_assert(REQUIRE_DIVIDES % BLOCK == 0, "cols must be a multiple of BLOCK")
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    for start in range(0, cols, BLOCK):
        c = start + offs
        x = tl.load(x_ptr + row * cols + c, mask=c < cols, other=0.0)
        tl.store(y_ptr + row * cols + c, x, mask=c < cols)


@variant("tstub.static_assert", op="softmax", dtypes=["fp32"], params={"BLOCK": [16]})
def static_assert(x, BLOCK):
    y = torch.empty_like(x)
    _row_kernel[(x.shape[0],)](x, y, x.shape[1], BLOCK=BLOCK, REQUIRE_DIVIDES=BLOCK + 1)
    return y


@triton.jit
def _deep_pipeline_kernel(a_ptr, b_ptr, c_ptr, K, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK, BLOCK], tl.float32)
    for k in range(0, K, BLOCK_K):
        a = tl.load(a_ptr + offs[:, None] * K + (k + offs_k)[None, :])
        b = tl.load(b_ptr + (k + offs_k)[:, None] * BLOCK + offs[None, :])
        acc += tl.dot(a, b)
    tl.store(c_ptr + offs[:, None] * BLOCK + offs[None, :], acc)


@variant("tstub.out_of_resources", op="softmax", dtypes=["fp32"], params={"BLOCK_K": [256]})
def out_of_resources(x, BLOCK_K):
    """An fp16 matmul tile of 128 x 128 over k steps of 256, pipelined 4 deep: each stage holds
    128 KiB of A and B, so the stages need more shared memory than any GPU has. (A 512 x 512 fp32
    tile squared asked for 2 MiB too, but Triton compiled its IEEE products for minutes first.)"""
    block, k = 128, 4 * BLOCK_K
    a = torch.randn(block, k, device=x.device, dtype=torch.float16)
    b = torch.randn(k, block, device=x.device, dtype=torch.float16)
    c = torch.empty(block, block, device=x.device)
    _deep_pipeline_kernel[(1,)](a, b, c, k, BLOCK=block, BLOCK_K=BLOCK_K, num_warps=8, num_stages=4)
    return torch.softmax(x, dim=-1)
