"""The Triton Gram and fused style loss against float64 torch.

Without a GPU the kernels run on the CPU under Triton's interpreter (conftest.py sets
TRITON_INTERPRET before anything imports triton); with one, compiled, on CUDA tensors.
"""

import pytest
import torch

from nstbatch.runtime import gram as dispatch

# One tolerance table: max |got − ref| <= rtol · max |ref|, per input dtype. Gram and loss come out in
# float32 whatever the input, so they are held to float32 accumulation error; gradients come out in
# the input's dtype, so they are held to its rounding (bfloat16 keeps 8 bits, float16 11).
TOLERANCE = {
    torch.float32: {"gram": 1e-5, "loss": 1e-5, "grad": 1e-5},
    torch.float16: {"gram": 1e-5, "loss": 1e-5, "grad": 2e-3},
    torch.bfloat16: {"gram": 1e-5, "loss": 1e-5, "grad": 1.6e-2},
}
DTYPES = list(TOLERANCE)
CHANNELS = [1, 3, 64, 100]
POSITIONS = {1: (1, 1), 17: (1, 17), 1000: (25, 40), 4099: (1, 4099)}  # H x W; 17 and 4099 are prime
BATCHES = [1, 2]


DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def every_shape_and_dtype(test):
    """The full cross product: every channel count, position count, batch and dtype above."""
    for name, values in (("dtype", DTYPES), ("b", BATCHES), ("n", list(POSITIONS)), ("c", CHANNELS)):
        test = pytest.mark.parametrize(name, values, ids=str if name == "dtype" else None)(test)
    return test


@pytest.fixture(scope="module")
def ops():
    from nstbatch.runtime import gram_triton

    assert gram_triton.INTERPRET == (DEVICE == "cpu"), "TRITON_INTERPRET must be set before triton is imported"
    return gram_triton


def features(b, c, n, dtype, seed=0):
    h, w = POSITIONS[n]
    g = torch.Generator().manual_seed(seed + 97 * c + n)
    # Post-ReLU-like features: non-negative, so G has no cancellation to hide errors behind.
    return torch.randn(b, c, h, w, generator=g).relu().to(dtype=dtype, device=DEVICE)


def reference_gram(x):
    b, c, h, w = x.shape
    flat = x.cpu().double().reshape(b, c, h * w)  # differentiable: the reference gradients come through it
    return flat @ flat.transpose(1, 2) / (c * h * w)


def assert_close(got, ref, rtol, what):
    got, ref = got.detach().cpu().double(), ref.detach().cpu().double()
    err = float((got - ref).abs().max())
    bound = rtol * float(ref.abs().max()) + 1e-30
    assert err <= bound, f"{what}: max error {err:.3g} over bound {bound:.3g}"


@every_shape_and_dtype
def test_gram_forward_and_gradient(ops, c, n, b, dtype):
    x = features(b, c, n, dtype).requires_grad_(True)
    g = ops.gram(x)
    assert g.shape == (b, c, c) and g.dtype == torch.float32
    assert_close(g, reference_gram(x.detach()), TOLERANCE[dtype]["gram"], "gram")
    assert torch.equal(g, g.transpose(1, 2))  # mirrored, not computed twice with different rounding

    upstream = torch.randn(b, c, c, generator=torch.Generator().manual_seed(1))  # not symmetric on purpose
    (grad,) = torch.autograd.grad(g, x, upstream.to(DEVICE))
    x64 = x.detach().cpu().double().requires_grad_(True)
    (ref,) = torch.autograd.grad(reference_gram(x64), x64, upstream.double())
    assert grad.dtype == dtype
    assert_close(grad, ref, TOLERANCE[dtype]["grad"], "d gram / dx")


@every_shape_and_dtype
def test_fused_style_loss_against_float64(ops, c, n, b, dtype):
    x = features(b, c, n, dtype).requires_grad_(True)
    target = reference_gram(features(1, c, n, torch.float32, seed=5))[0].float().to(DEVICE)
    # dL/dx carries 1/(b·c³·n); this weight keeps it O(1), inside float16's range, as the loop's
    # rescaled objective does.
    weight = 0.7 * b * c**3 * n
    loss = ops.style_loss(x, target, weight)
    (grad,) = torch.autograd.grad(2.5 * loss, x)  # an upstream factor checks the chain rule too

    x64 = x.detach().cpu().double().requires_grad_(True)
    ref_loss = weight * torch.mean((reference_gram(x64) - target.double()) ** 2)
    (ref_grad,) = torch.autograd.grad(2.5 * ref_loss, x64)
    assert_close(loss, ref_loss, TOLERANCE[dtype]["loss"], "loss")
    assert_close(grad, ref_grad, TOLERANCE[dtype]["grad"], "d loss / dx")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fused_loss_matches_unfused_torch(ops, dtype):
    x = features(2, 64, 1000, dtype).requires_grad_(True)
    target = reference_gram(features(1, 64, 1000, torch.float32, seed=3))[0].float().to(DEVICE)
    weight = 3.0 * 2 * 64**3 * 1000  # gradients of order 1, see above
    fused = ops.style_loss(x, target, weight)
    unfused = dispatch.style_loss(x, target, weight, backend="torch")
    (g_fused,) = torch.autograd.grad(fused, x)
    (g_unfused,) = torch.autograd.grad(unfused, x)
    assert_close(fused, unfused, TOLERANCE[dtype]["loss"], "loss")
    assert_close(g_fused, g_unfused, TOLERANCE[dtype]["grad"], "gradient")


def test_per_image_targets(ops):
    x = features(2, 3, 17, torch.float32)
    targets = torch.stack([reference_gram(features(1, 3, 17, torch.float32, seed=s))[0] for s in (1, 2)]).float()
    got = ops.style_loss(x, targets.to(DEVICE), 1.0)
    ref = torch.mean((reference_gram(x) - targets.double()) ** 2)
    assert_close(got, ref, 1e-5, "loss with a target per image")


def test_dispatch_through_style_loss_module(ops):
    from nstbatch.runtime.losses import StyleLoss

    x = features(1, 64, 1000, torch.float32).requires_grad_(True)
    target = reference_gram(features(1, 64, 1000, torch.float32, seed=9)).float().to(DEVICE)
    via_triton = StyleLoss(target, 2.0, gram_backend="triton")(x)
    via_torch = StyleLoss(target, 2.0, gram_backend="torch")(x)
    assert_close(via_triton, via_torch, 1e-5, "StyleLoss")


def test_auto_uses_torch_on_the_cpu_and_says_so():
    x = torch.rand(1, 4, 3, 3)
    assert dispatch.resolve_backend("auto", x) == "torch"
    assert dispatch.backend_in_use("cpu") == "torch (Triton needs CUDA)"
    with pytest.raises(ValueError, match="gram backend"):
        dispatch.gram(x, backend="cuda")


def test_triton_refuses_cpu_tensors_without_the_interpreter(ops, monkeypatch):
    # Pretends the interpreter is off: a CPU tensor must then be refused with a clear reason.
    monkeypatch.setattr(ops, "INTERPRET", False)
    with pytest.raises(RuntimeError, match="needs a CUDA tensor"):
        ops.gram(torch.rand(1, 4, 3, 3))
    with pytest.raises(TypeError, match="supports"):
        ops.gram(torch.rand(1, 4, 3, 3, dtype=torch.float64))


def test_split_k_fills_the_gpu_for_long_reductions(ops, monkeypatch):
    monkeypatch.setattr(ops, "_processors", lambda device: 132)  # an H100's SM count
    cfg = ops.block_config(64, 1024 * 1024, 1, torch.device("cuda"))
    assert cfg["tiles"] == 1  # one 64 x 64 tile: without split-K a single program would do all the work
    assert cfg["splits"] >= 4 * 132
    assert cfg["chunk"] % 64 == 0 and cfg["splits"] * cfg["chunk"] >= 1024 * 1024
    small = ops.block_config(512, 32 * 32, 1, torch.device("cuda"))
    assert small["splits"] == 1  # 1024 positions are not worth splitting


@pytest.mark.parametrize("c,h,w", [(3, 5, 7), (64, 12, 17)])
def test_a_guided_style_term_on_triton_is_torch_float64s(ops, c, h, w):
    """A region's term (losses.GuidedStyleLoss) runs the Triton Gram on the guide-weighted features:
    its value and gradient against float64 torch."""
    from nstbatch.runtime.losses import GuidedStyleLoss

    generator = torch.Generator().manual_seed(c)
    features = torch.rand(2, c, h, w, generator=generator).to(DEVICE)
    guide = torch.rand(1, 1, h, w, generator=generator).to(DEVICE)
    target = torch.rand(c, c, generator=generator).to(DEVICE) / c
    got_features = features.clone().requires_grad_(True)
    got = GuidedStyleLoss(target, guide, 2.0, "triton")(got_features)
    got.backward()
    want_features = features.double().clone().requires_grad_(True)
    want = GuidedStyleLoss(target.double(), guide.double(), 2.0, "torch")(want_features)
    want.backward()
    got, want = float(got.detach()), float(want.detach())
    assert abs(got - want) <= TOLERANCE[torch.float32]["loss"] * abs(want)
    scale = float(want_features.grad.abs().max())
    assert float((got_features.grad.double() - want_features.grad).abs().max()) <= TOLERANCE[torch.float32]["grad"] * scale
