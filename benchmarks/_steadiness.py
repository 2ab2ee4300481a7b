"""The frozen yardstick for video steadiness, shared by every video benchmark.

The temporal error of a stylised clip: for each frame after the first, the mean squared difference
(pixels in [0, 1], averaged over the three channels) between the stylised frame and the previous
stylised frame warped into its place along the *photos'* optical flow, over the pixels that flow can
be trusted on. Flicker raises it; motion that follows the photo does not.

Frozen on purpose: OpenCV's DIS flow at its medium preset, trusted pixels by the forward-backward
consistency test alone (Ruder et al.'s thresholds) with pixels whose flow leaves the frame dropped.
This module imports nothing from nstbatch, so retuning nstbatch's own reliability mask (media/flow.py)
can never move the measure it is judged by. Change it only with a note in benchmarks/RESULTS.md
saying that earlier figures are not comparable.
"""

from __future__ import annotations

import cv2
import numpy as np

_CONSISTENCY_RELATIVE = 0.01
_CONSISTENCY_ABSOLUTE = 0.5


def _flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """DIS medium flow from ``source`` to ``target`` (H x W x 3 uint8 RGB): source(p) ~ target(p + flow(p))."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(cv2.cvtColor(source, cv2.COLOR_RGB2GRAY), cv2.cvtColor(target, cv2.COLOR_RGB2GRAY), None)


def _maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    map_x, map_y = _maps(flow)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def trusted(frame: np.ndarray, previous_frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flow from ``frame`` to ``previous_frame``, H x W bool of the pixels that flow can be trusted on)."""
    backward = _flow(frame, previous_frame)
    forward_there = _warp(_flow(previous_frame, frame), backward)
    mismatch = np.sum((backward + forward_there) ** 2, axis=-1)
    consistent = mismatch <= _CONSISTENCY_RELATIVE * (np.sum(backward**2, axis=-1) + np.sum(forward_there**2, axis=-1)) \
        + _CONSISTENCY_ABSOLUTE
    map_x, map_y = _maps(backward)
    h, w = backward.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return backward, consistent & inside


def error_maps(stylised: list[np.ndarray], frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each frame after the first: (H x W squared difference to the warped previous stylised frame,
    H x W bool of the trusted pixels)."""
    if len(stylised) != len(frames):
        raise ValueError(f"{len(stylised)} stylised frames for {len(frames)} photos")
    maps = []
    for t in range(1, len(frames)):
        backward, mask = trusted(frames[t], frames[t - 1])
        previous = _warp(stylised[t - 1].astype(np.float32) / 255.0, backward)
        squared = np.sum((stylised[t].astype(np.float32) / 255.0 - previous) ** 2, axis=-1) / 3
        maps.append((squared, mask))
    return maps


def temporal_error(stylised: list[np.ndarray], frames: list[np.ndarray]) -> float:
    """The clip's temporal error: the mean over frames of the mean squared difference on trusted pixels."""
    return float(np.mean([squared[mask].mean() if mask.any() else 0.0 for squared, mask in error_maps(stylised, frames)]))
