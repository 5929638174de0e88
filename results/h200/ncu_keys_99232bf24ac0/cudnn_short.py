#!/usr/bin/env python3
"""One cuDNN SDPA forward at bf16 d128, batch 2, 16 heads, seq_q 8192 and seq_k from argv (768 by
default), for ncu: which kernel cuDNN runs with few keys a query tile, its grid, block, shared
memory and registers (issue 18's per-tile cost; results/h200/ws_pingpong_42ff2f1a99ab/keys.txt).
Needs torch with CUDA."""
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

seq_k = int(sys.argv[1]) if len(sys.argv) > 1 else 768
torch.manual_seed(0)
q = torch.randn(2, 16, 8192, 128, device="cuda", dtype=torch.bfloat16)
k = torch.randn(2, 16, seq_k, 128, device="cuda", dtype=torch.bfloat16)
v = torch.randn(2, 16, seq_k, 128, device="cuda", dtype=torch.bfloat16)
with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    for _ in range(3):
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
torch.cuda.synchronize()
