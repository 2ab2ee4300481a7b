"""The layers of a universal network: a small encoder whose features stand in for VGG-19's relu3_1, and the
decoder that rebuilds a photo from them (Li et al. 2017, with the encoder distilled from VGG-19 as Wang et
al. 2020 do, so that it costs a small part of VGG's operations).

Neither half ever sees a painting: the encoder learns features that a 1 x 1 projection maps onto VGG-19's
relu3_1, and the decoder learns to rebuild photos from them. A painting is given at run time, as the mean
and covariance of its encoder features (``feature_transforms``), which replace the photo's between the two
halves. Torch is needed to train and export one, never to paint with one (``universal_painter``).

The exported file holds both halves in one graph: inputs ``photo`` (N x 3 x H x W in [0, 1]) and
``features`` (N x C x h x w), outputs ``encoded`` (the photo's features) and ``decoded`` (the picture
the features make). onnxruntime asks for every input on every run, so a caller feeds the half it does not
want a tiny stand-in (``STAND_IN_SIDE``): cheaper than two files to keep together.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .universal_shape import VGG_CHANNELS, UniversalShape


def _conv(inputs: int, outputs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, padding_mode="reflect")


class Encoder(nn.Module):
    def __init__(self, shape: UniversalShape):
        super().__init__()
        c1, c2, c3, c4 = shape.channels
        self.layers = nn.ModuleList([_conv(3, c1), _conv(c1, c2, 2), _conv(c2, c2), _conv(c2, c3, 2), _conv(c3, c4)])

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        x = photo - 0.5
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


class Decoder(nn.Module):
    """The encoder's mirror; it doubles the size by nearest-neighbour resizing and then convolves, which
    leaves no chequerboard where a transposed convolution would."""

    def __init__(self, shape: UniversalShape):
        super().__init__()
        c1, c2, c3, c4 = shape.channels
        self.at_quarter = _conv(c4, c3)
        self.at_half = nn.ModuleList([_conv(c3, c2), _conv(c2, c2)])
        self.at_full = nn.ModuleList([_conv(c2, c1), _conv(c1, 3)])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.at_quarter(features))
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        for layer in self.at_half:
            x = F.relu(layer(x))
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = F.relu(self.at_full[0](x))
        return self.at_full[1](x) + 0.5


class UniversalCoder(nn.Module):
    """Encoder and decoder, with the projection that distils the encoder from VGG-19 (used in training
    only; not exported)."""

    def __init__(self, shape: UniversalShape):
        super().__init__()
        self.shape = shape
        self.encoder = Encoder(shape)
        self.decoder = Decoder(shape)
        self.projection = nn.Conv2d(shape.feature_channels, VGG_CHANNELS, 1)

    def forward(self, photo: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exported graph's two halves, side by side (see the module's docstring)."""
        return self.encoder(photo), self.decoder(features)
