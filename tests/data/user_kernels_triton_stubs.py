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
def _square_kernel(x_ptr, y_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    a = tl.load(x_ptr + offs[:, None] * BLOCK + offs[None, :])
    tl.store(y_ptr + offs[:, None] * BLOCK + offs[None, :], tl.dot(a, a, input_precision="ieee"))


@variant("tstub.out_of_resources", op="softmax", dtypes=["fp32"], params={"BLOCK": [512]})
def out_of_resources(x, BLOCK):
    """A 512 x 512 fp32 tile squared: 2 MiB of shared memory, more than any GPU has."""
    a = torch.randn(BLOCK, BLOCK, device=x.device)
    b = torch.empty_like(a)
    _square_kernel[(1,)](a, b, BLOCK=BLOCK, num_warps=8)
    return torch.softmax(x, dim=-1)
