"""What a universal network does between its halves, in numpy (torch-free): a photo's features take a
painting's statistics.

Two transforms, each ``out = colour @ normalised(photo) + mean``:

- ``wct``, whitening and colouring (Li et al. 2017): the photo's features are decorrelated (its covariance
  becomes the identity), then given the painting's covariance and mean. Costs one eigendecomposition of a
  C x C covariance a photo.
- ``adain``, adaptive instance normalisation (Huang and Belongie 2017): each channel takes the painting's
  mean and spread alone, a diagonal ``colour``.

A painting's ``Statistics`` are computed once a run. Several paintings blend linearly (their colourings
and means weighed), and a per-pixel blend (regions) weighs them at each feature position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRANSFORMS = ("wct", "adain")
# Eigenvalues below this share of the largest are noise: whitening by them would amplify it.
RELATIVE_FLOOR = 1e-5


@dataclass(frozen=True)
class Statistics:
    mean: np.ndarray  # C
    colour: np.ndarray  # C x C: what maps normalised features to the picture's spread


def _flat(features: np.ndarray) -> np.ndarray:
    """C x h x w (or 1 x C x h x w) to C x N, float32."""
    features = np.asarray(features, np.float32)
    if features.ndim == 4:
        features = features[0]
    return features.reshape(features.shape[0], -1)


def _centred(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C x N features, their mean, the features less their mean)."""
    flat = _flat(features)
    mean = flat.mean(1, dtype=np.float64).astype(np.float32)
    return flat, mean, flat - mean[:, None]


def _covariance(centred: np.ndarray) -> np.ndarray:
    """C x C, from float64 products: float32 ones hang in their last bits on how many threads the BLAS sums
    with, which moved a pixel between a Ray worker (one thread) and a local run (two)."""
    centred = centred.astype(np.float64)
    return (centred @ centred.T) / max(1, centred.shape[1] - 1)


def _root(covariance: np.ndarray, power: float) -> np.ndarray:
    """covariance ** power (±1/2) through its eigendecomposition, the noise eigenvalues left out."""
    values, vectors = np.linalg.eigh(covariance)
    keep = values > RELATIVE_FLOOR * max(values.max(), 1e-12)
    values, vectors = values[keep], vectors[:, keep]
    return (vectors * values ** power) @ vectors.T


def statistics(features: np.ndarray, transform: str) -> Statistics:
    """A picture's features (C x h x w) as ``transform`` gives them to a photo."""
    _, mean, centred = _centred(features)
    if transform == "wct":
        colour = _root(_covariance(centred), 0.5)
    elif transform == "adain":
        colour = np.diag(np.sqrt((centred.astype(np.float64) ** 2).mean(1) + 1e-8))
    else:
        raise ValueError(f"unknown transform {transform!r}; there are {', '.join(TRANSFORMS)}")
    return Statistics(mean, colour.astype(np.float32))


def _normaliser(centred: np.ndarray, transform: str) -> np.ndarray:
    """The C x C matrix that takes the photo's own spread out of its centred features."""
    if transform == "wct":
        return _root(_covariance(centred), -0.5)
    if transform == "adain":
        return np.diag(1 / np.sqrt((centred.astype(np.float64) ** 2).mean(1) + 1e-8))
    raise ValueError(f"unknown transform {transform!r}; there are {', '.join(TRANSFORMS)}")


def normalised(features: np.ndarray, transform: str) -> np.ndarray:
    """The photo's features (C x h x w) with their own mean and spread taken out: C x N, float32."""
    _, _, centred = _centred(features)
    return _normaliser(centred, transform).astype(np.float32) @ centred


def blended(paintings: list[Statistics], weights) -> Statistics:
    """The statistics a blend of paintings gives (weights summing to 1): the transform is linear in them."""
    weights = [float(w) for w in weights]
    return Statistics(sum(w * s.mean for w, s in zip(weights, paintings)).astype(np.float32),
                      sum(w * s.colour for w, s in zip(weights, paintings)).astype(np.float32))


def stylised(features: np.ndarray, transform: str, painting: Statistics, strength: float = 1.0) -> np.ndarray:
    """The photo's features (C x h x w) with the painting's statistics; ``strength`` mixes them with the
    photo's own (0: the photo's features, 1: the painting's statistics). C x h x w, float32."""
    shape = np.asarray(features).shape[-3:]
    flat, mean, centred = _centred(features)
    # One C x C matrix and one pass over the features: colour @ normaliser, mixed with the identity.
    matrix = painting.colour.astype(np.float64) @ _normaliser(centred, transform)
    shift = painting.mean
    if strength < 1:
        matrix = strength * matrix + (1 - strength) * np.eye(len(matrix))
        shift = strength * painting.mean + (1 - strength) * mean
    out = matrix.astype(np.float32) @ centred + shift[:, None]
    return out.reshape(shape).astype(np.float32)


def stylised_by_map(features: np.ndarray, transform: str, paintings: list[Statistics], shares: np.ndarray,
                    strength: float = 1.0) -> np.ndarray:
    """As ``stylised``, each feature position taking the paintings in its own shares (S x h x w, summing to
    1 where painted; a position whose shares are all 0 keeps the photo's features)."""
    shape = np.asarray(features).shape[-3:]
    whitened = normalised(features, transform)
    shares = shares.reshape(len(paintings), -1).astype(np.float32)
    own = _flat(features)
    out = own * np.clip(1 - shares.sum(0), 0, 1)
    for painting, share in zip(paintings, shares):
        if share.max() > 0:
            out += share * (strength * (painting.colour @ whitened + painting.mean[:, None]) + (1 - strength) * own)
    return out.reshape(shape).astype(np.float32)
