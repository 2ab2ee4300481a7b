"""Fused Gram matrix and style loss in Triton: kernels, launchers, autograd Functions (Liger's layout).

For features X viewed as [B, C, N] (N = H·W):
    G = X Xᵀ / (C·N)                     (accumulated in float32)
    L = weight · mean((G − A)²)          (mean over B·C·C entries, as the torch StyleLoss)
    dL/dX = 4·weight / (B·C²·C·N) · (G − A) X

dL/dX carries 1/(B·C³·N): for half-precision features the weight must be large enough that it does
not underflow (the stylisation loop rescales its objective so, see stylize.OBJECTIVE_SCALE).

The Gram kernel computes only tiles on or above the diagonal and mirrors them, and splits the long
reduction over N across programs (split-K) into a partial buffer, so C = 64 with a million positions
still fills a GPU; the loss kernel sums the partials, subtracts A and squares in one pass, keeping
G − A for the backward GEMM. Sums over splits go through a buffer, not atomics, so results are
deterministic.

This module is imported only when Triton is wanted: the ``triton.jit`` decorator reads
TRITON_INTERPRET when it runs, which is how the tests run these kernels on the CPU.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"


# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------


@triton.jit
def _gram_partial_kernel(
    x_ptr, part_ptr, pairs_ptr,
    C, N, chunk, scale,
    stride_xb, stride_xc,
    stride_ps, stride_pb, stride_pc,
    BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr, UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):
    """One upper-triangle tile (ti, tj) of one image's Gram over one chunk of positions."""
    pair, split, b = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    ti = tl.load(pairs_ptr + 2 * pair)
    tj = tl.load(pairs_ptr + 2 * pair + 1)
    rows = ti * BLOCK_C + tl.arange(0, BLOCK_C)
    cols = tj * BLOCK_C + tl.arange(0, BLOCK_C)
    k_start = split * chunk
    k_end = tl.minimum(k_start + chunk, N)
    base = x_ptr + b * stride_xb
    acc = tl.zeros((BLOCK_C, BLOCK_C), dtype=tl.float32)
    for k in range(k_start, k_end, BLOCK_K):
        ks = k + tl.arange(0, BLOCK_K)
        kmask = ks[None, :] < k_end
        a = tl.load(base + rows[:, None] * stride_xc + ks[None, :], mask=(rows[:, None] < C) & kmask, other=0.0)
        bt = tl.load(base + cols[:, None] * stride_xc + ks[None, :], mask=(cols[:, None] < C) & kmask, other=0.0)
        if UPCAST:
            a = a.to(tl.float32)
            bt = bt.to(tl.float32)
        acc += tl.dot(a, tl.trans(bt), input_precision=PRECISION)
    acc = acc * scale
    if ti == tj:
        # A tile times its own transpose is not bitwise symmetric (on tensor cores or BLAS alike);
        # averaging with the transpose in registers makes G exactly symmetric for nothing.
        acc = (acc + tl.trans(acc)) * 0.5
    out = part_ptr + split * stride_ps + b * stride_pb
    inside = (rows[:, None] < C) & (cols[None, :] < C)
    tl.store(out + rows[:, None] * stride_pc + cols[None, :], acc, mask=inside)
    if ti != tj:  # the mirror image below the diagonal
        tl.store(out + cols[None, :] * stride_pc + rows[:, None], acc, mask=inside)


@triton.jit
def _reduce_loss_kernel(
    part_ptr, target_ptr, gram_ptr, diff_ptr, loss_ptr,
    S, total, target_batch_stride, CC,
    BLOCK: tl.constexpr, WITH_LOSS: tl.constexpr,
):
    """Sum the split-K partials into G; with a target A, also G − A and Σ(G − A)² in the same pass."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < total
    g = tl.zeros((BLOCK,), dtype=tl.float32)
    for s in range(0, S):
        g += tl.load(part_ptr + s * total + offs, mask=mask, other=0.0)
    tl.store(gram_ptr + offs, g, mask=mask)
    if WITH_LOSS:
        a = tl.load(target_ptr + (offs // CC) * target_batch_stride + offs % CC, mask=mask, other=0.0)
        d = tl.where(mask, g - a, 0.0)
        tl.store(diff_ptr + offs, d, mask=mask)
        tl.atomic_add(loss_ptr, tl.sum(d * d, axis=0))


@triton.jit
def _sym_matmul_kernel(
    m_ptr, x_ptr, out_ptr,
    C, N, coef,
    stride_mb, stride_mc, stride_xb, stride_xc, stride_ob, stride_oc,
    BLOCK_C: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):
    """out[b] = coef · M[b] X[b] for a C x C float32 M: the backward of both the Gram and the loss."""
    pid_c, pid_n, b = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    rows = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_C, BLOCK_N), dtype=tl.float32)
    for k in range(0, C, BLOCK_K):
        ks = k + tl.arange(0, BLOCK_K)
        m = tl.load(m_ptr + b * stride_mb + rows[:, None] * stride_mc + ks[None, :],
                    mask=(rows[:, None] < C) & (ks[None, :] < C), other=0.0)
        x = tl.load(x_ptr + b * stride_xb + ks[:, None] * stride_xc + cols[None, :],
                    mask=(ks[:, None] < C) & (cols[None, :] < N), other=0.0)
        if UPCAST:
            x = x.to(tl.float32)
        else:
            m = m.to(x.dtype)  # half-precision GEMM on tensor cores, float32 accumulation
        acc += tl.dot(m, x, input_precision=PRECISION)
    acc = acc * coef
    tl.store(out_ptr + b * stride_ob + rows[:, None] * stride_oc + cols[None, :],
             acc.to(out_ptr.dtype.element_ty), mask=(rows[:, None] < C) & (cols[None, :] < N))


# ----------------------------------------------------------------------------------------------
# Launchers: check, allocate, choose blocks and grid, launch
# ----------------------------------------------------------------------------------------------

SUPPORTED = (torch.float32, torch.float16, torch.bfloat16)


def _processors(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 4  # the interpreter: few programs keep the CPU tests quick


def block_config(C: int, N: int, B: int, device: torch.device) -> dict:
    """Every block size and the split-K factor, chosen in one place.

    Tiles of 64 channels (32 for small C); positions in steps of 64; enough splits of N that the
    grid holds about four programs per SM, but never chunks shorter than 1024 positions.
    """
    block_c = 32 if C <= 32 else 64
    tiles = triton.cdiv(C, block_c)
    pairs = tiles * (tiles + 1) // 2
    want = 4 * _processors(device)
    splits = max(1, min(triton.cdiv(want, pairs * B), triton.cdiv(N, 1024)))
    chunk = max(64, N // splits // 64 * 64)  # rounded down to whole steps, so splits only grow
    splits = triton.cdiv(N, chunk)
    return {
        "BLOCK_C": block_c, "BLOCK_K": 64, "tiles": tiles, "splits": splits, "chunk": chunk,
        "num_warps": 4 if block_c == 32 else 8,
        # The backward GEMM (C x C times C x N): wide column blocks under the interpreter, where each
        # program is a Python loop and fewer, larger ones run the same code many times faster.
        "MM_BLOCK_N": 512 if INTERPRET else 64, "MM_BLOCK_K": 32,
    }


def _precision(dtype: torch.dtype) -> tuple[bool, str]:
    """(upcast before tl.dot, input precision). float32 stays exact (no TF32) so the loss is too.

    The interpreter cannot multiply bfloat16 in tl.dot (it multiplies the raw bits; triton #11584),
    so there bfloat16 tiles are upcast to float32 first; on a GPU they go to the tensor cores as is.
    """
    if dtype == torch.float32:
        return False, "ieee"
    return (INTERPRET and dtype == torch.bfloat16), "ieee" if INTERPRET else "tf32"


def _check(x: torch.Tensor) -> torch.Tensor:
    if x.dim() != 4:
        raise ValueError(f"expected features [B, C, H, W], got shape {tuple(x.shape)}")
    if x.dtype not in SUPPORTED:
        raise TypeError(f"the Triton Gram supports {SUPPORTED}, not {x.dtype}")
    if not (x.is_cuda or INTERPRET):
        raise RuntimeError("the Triton Gram needs a CUDA tensor (or TRITON_INTERPRET=1 on the CPU)")
    b, c, h, w = x.shape
    return x.reshape(b, c, h * w).contiguous()


def gram_forward(x: torch.Tensor, target: torch.Tensor | None = None):
    """G [B, C, C] float32; with ``target`` (A, [C, C] or [B, C, C]) also G − A and Σ(G − A)²."""
    flat = _check(x)
    B, C, N = flat.shape
    cfg = block_config(C, N, B, x.device)
    upcast, precision = _precision(x.dtype)
    tiles = cfg["tiles"]
    pairs = torch.tensor([(i, j) for i in range(tiles) for j in range(i, tiles)], dtype=torch.int32, device=x.device)
    partial = torch.empty((cfg["splits"], B, C, C), dtype=torch.float32, device=x.device)
    _gram_partial_kernel[(pairs.shape[0], cfg["splits"], B)](
        flat, partial, pairs, C, N, cfg["chunk"], 1.0 / (C * N),
        flat.stride(0), flat.stride(1), partial.stride(0), partial.stride(1), partial.stride(2),
        BLOCK_C=cfg["BLOCK_C"], BLOCK_K=cfg["BLOCK_K"], UPCAST=upcast, PRECISION=precision,
        num_warps=cfg["num_warps"],
    )
    gram = torch.empty((B, C, C), dtype=torch.float32, device=x.device)
    total, block = B * C * C, 1024
    if target is None:
        _reduce_loss_kernel[(triton.cdiv(total, block),)](
            partial, gram, gram, gram, gram, cfg["splits"], total, 0, C * C, BLOCK=block, WITH_LOSS=False)
        return gram
    target = target.to(device=x.device, dtype=torch.float32).contiguous()
    if target.shape[-2:] != (C, C) or (target.dim() == 3 and target.shape[0] not in (1, B)):
        raise ValueError(f"target Gram of shape {tuple(target.shape)} does not fit features with C={C}, B={B}")
    batch_stride = C * C if target.dim() == 3 and target.shape[0] == B else 0
    diff = torch.empty_like(gram)
    loss = torch.zeros((), dtype=torch.float32, device=x.device)
    _reduce_loss_kernel[(triton.cdiv(total, block),)](
        partial, target, gram, diff, loss, cfg["splits"], total, batch_stride, C * C, BLOCK=block, WITH_LOSS=True)
    return gram, diff, loss


def sym_matmul(m: torch.Tensor, x: torch.Tensor, coef: float) -> torch.Tensor:
    """coef · M X for M [B, C, C] float32 and features x [B, C, H, W]; the result has x's dtype and shape."""
    flat = _check(x)
    B, C, N = flat.shape
    m = m.contiguous()
    out = torch.empty_like(flat)
    upcast, precision = _precision(x.dtype)
    cfg = block_config(C, N, B, x.device)
    _sym_matmul_kernel[(cfg["tiles"], triton.cdiv(N, cfg["MM_BLOCK_N"]), B)](
        m, flat, out, C, N, coef,
        m.stride(0), m.stride(1), flat.stride(0), flat.stride(1), out.stride(0), out.stride(1),
        BLOCK_C=cfg["BLOCK_C"], BLOCK_N=cfg["MM_BLOCK_N"], BLOCK_K=cfg["MM_BLOCK_K"],
        UPCAST=upcast or x.dtype == torch.float32, PRECISION=precision, num_warps=cfg["num_warps"],
    )
    return out.view_as(x)


# ----------------------------------------------------------------------------------------------
# Autograd Functions: call the launchers, save what backward needs
# ----------------------------------------------------------------------------------------------


class GramFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return gram_forward(x)

    @staticmethod
    def backward(ctx, grad_gram):
        (x,) = ctx.saved_tensors
        b, c, h, w = x.shape
        grad_gram = grad_gram.float()
        return sym_matmul(grad_gram + grad_gram.transpose(1, 2), x, 1.0 / (c * h * w))


class FusedStyleLoss(torch.autograd.Function):
    """weight · mean((gram(x) − A)²) and its gradient, G − A kept from the forward pass."""

    @staticmethod
    def forward(ctx, x, target, weight: float):
        _, diff, loss = gram_forward(x, target)
        b, c, h, w = x.shape
        ctx.save_for_backward(x, diff)
        ctx.coef = 4.0 * weight / (b * c * c * c * h * w)
        return loss * (weight / (b * c * c))

    @staticmethod
    def backward(ctx, grad_loss):
        x, diff = ctx.saved_tensors
        return sym_matmul(diff, x, ctx.coef) * grad_loss.to(x.dtype), None, None


def gram(x: torch.Tensor) -> torch.Tensor:
    return GramFunction.apply(x)


def style_loss(x: torch.Tensor, target: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    return FusedStyleLoss.apply(x, target, weight)
