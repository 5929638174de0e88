"""A kernel whose error is CUDA's sticky one (the context is gone): a `fault` row, after which
scripts/user_kernels.py goes on in a fresh process with --resume (tests/user_kernels_test.py)."""
import torch

from fabench_user import variant


@variant("fstub.fault", op="softmax")
def fault(x):
    raise RuntimeError("CUDA error: an illegal memory access was encountered\nCompile with TORCH_USE_CUDA_DSA")


@variant("fstub.good", op="softmax")
def good(x, scale):
    return torch.softmax(x.float() * scale, dim=-1).to(x.dtype)
