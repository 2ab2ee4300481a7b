"""Optical flow between video frames, warping along it, and which warped pixels can be trusted.

Conventions: frames are H x W x 3 uint8 RGB arrays, flows H x W x 2 float32 arrays of (dx, dy) in
pixels. ``optical_flow(a, b)`` maps each pixel p of ``a`` to where it lies in ``b``: a(p) ≈ b(p + flow(p)).
So the previous stylised frame is brought into frame t's place with ``warp(previous, flow(t, t-1))``.

The reliability test follows Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos" (2016),
recalibrated for DIS flow on real footage at small working sizes. A pixel is *unseen* where the
backward and forward flows disagree (it was hidden in the previous frame) or where the flow leads out
of the frame: there the previous frame says nothing, so it starts from the photo and has no temporal
term. A pixel on a motion boundary was seen but its warp may smear: it keeps the warped start and a
temporal term weighted down the further the flow's gradient passes Ruder's threshold. Ruder's hard
cut on that test rejected 4-9 % of still, blurred background on real clips at 128 px (DIS's noisy
flow fires its small absolute term); those pixels restarted from the photo every frame and carried
most of the flicker (benchmarks/RESULTS.md, 2026-11-23).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from ..errors import UsageError

FLOW_METHODS = ("dis", "farneback")

# Ruder et al.'s thresholds (section 3.2), in pixels.
CONSISTENCY_RELATIVE = 0.01
CONSISTENCY_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def optical_flow(source: np.ndarray, target: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow from ``source`` to ``target`` (see the module's conventions)."""
    if method == "dis":
        # DIS at its "medium" preset: ~10 ms at 256 px on a laptop core and near Farneback's accuracy
        # on real footage; DeepFlow, which Ruder et al. used, takes tens of seconds a frame.
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(_grey(source), _grey(target), None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(_grey(source), _grey(target), None, pyr_scale=0.5, levels=4,
                                            winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    else:
        raise UsageError(f"flow method must be one of {', '.join(FLOW_METHODS)}, not '{method}'")
    return flow.astype(np.float32)


def _sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at p + flow(p) for every pixel p (bilinear; the border repeats outside)."""
    map_x, map_y = _sample_grid(flow)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class Trust(NamedTuple):
    """How far frame t's pixels can be taken from the previous frame carried along the flow."""

    seen: np.ndarray  # H x W float32, 1 where the pixel was visible in frame t-1, 0 where it was not
    weight: np.ndarray  # H x W float32 in [0, 1], the temporal term's weight: 0 where unseen, < 1 on motion boundaries


def reliability(backward: np.ndarray, forward: np.ndarray) -> Trust:
    """Which of frame t's pixels can be taken from frame t-1, and how firmly.

    ``backward`` is the flow from frame t to frame t-1, ``forward`` the flow from t-1 to t.
    """
    h, w = backward.shape[:2]
    # Following a pixel to t-1 and back must land where it started, up to a tolerance that grows
    # with the motion.
    forward_there = warp(forward, backward)
    round_trip = backward + forward_there
    disoccluded = np.sum(round_trip**2, axis=-1) > CONSISTENCY_RELATIVE * (
        np.sum(backward**2, axis=-1) + np.sum(forward_there**2, axis=-1)) + CONSISTENCY_ABSOLUTE
    map_x, map_y = _sample_grid(backward)
    outside = (map_x < 0) | (map_x > w - 1) | (map_y < 0) | (map_y > h - 1)
    seen = (~(disoccluded | outside)).astype(np.float32)
    # Where the flow itself changes sharply, objects slide over each other and the warp may smear:
    # full weight up to Ruder's threshold, then the square root of threshold / gradient (a quarter
    # of the weight at 16 times the threshold), so noise just over it costs little.
    du_dy, du_dx = np.gradient(backward[..., 0])
    dv_dy, dv_dx = np.gradient(backward[..., 1])
    gradient = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    threshold = BOUNDARY_RELATIVE * np.sum(backward**2, axis=-1) + BOUNDARY_ABSOLUTE
    smooth = np.sqrt(np.minimum(1.0, threshold / np.maximum(gradient, 1e-12)))
    return Trust(seen, (seen * smooth).astype(np.float32))


def previous_in_place(previous: np.ndarray, frame: np.ndarray, previous_frame: np.ndarray,
                      method: str = "dis") -> tuple[np.ndarray, Trust]:
    """``previous`` (anything aligned with ``previous_frame``) moved to ``frame``'s place, and how far to trust it.

    ``frame`` and ``previous_frame`` are the content frames t and t-1 the flow is measured on.
    """
    backward = optical_flow(frame, previous_frame, method)
    forward = optical_flow(previous_frame, frame, method)
    return warp(previous, backward), reliability(backward, forward)


def temporal_errors(stylised: list[np.ndarray], frames: list[np.ndarray], method: str = "dis") -> list[float]:
    """For each frame after the first: the mean squared difference (pixels in [0, 1]) between the
    stylised frame and the previous stylised frame warped along the content frames' flow, weighted by
    how far each pixel is trusted. Flicker shows up here; motion that follows the content does not.
    """
    if len(stylised) != len(frames):
        raise ValueError(f"{len(stylised)} stylised frames for {len(frames)} content frames")
    errors = []
    for t in range(1, len(frames)):
        warped, trust = previous_in_place(_unit(stylised[t - 1]), frames[t], frames[t - 1], method)
        mask = trust.weight
        squared = np.sum((_unit(stylised[t]) - warped) ** 2, axis=-1) / 3
        errors.append(float(np.sum(mask * squared) / max(float(mask.sum()), 1.0)))
    return errors


def _unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
