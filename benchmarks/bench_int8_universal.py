"""int8 for the universal network (issue 42's speed at 512 px): onnxruntime's static quantisation of its
convolutions (QDQ, weights int8 per channel, u8 activations at the 99.99th percentile), with the encoder,
the decoder or both in int8, each measured against the float file through the whole painter (features
whitened and coloured, then the colours): the mean pixel difference on 4 photos x 4 paintings at --size,
and a photo's time at --time-size (painting cached; float and int8 interleaved in one process).

Calibration: centre crops (128 px) of 12 clear training photos, the decoder's input given each painting's
statistics in turn, as it is when it paints.

    .venv/bin/python benchmarks/bench_int8_universal.py [--size 256] [--time-size 512] [--repeats 7]

Prints the table and files it in benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from _envs import ROOT
from _results import cpu_name, publish

from nstbatch.exporter.quantise import prepare, quantise_convolutions
from nstbatch.media.images import read_picture
from nstbatch.network import feature_transforms
from nstbatch.network.universal_painter import PAINTING_MAX_SIDE, UniversalPainter
from nstbatch.onnx.session import UniversalSession

DATA = ROOT.parent / "shared" / "data"
MODEL = ROOT / "nstbatch" / "models" / "universal" / "model.onnx"
CROP = 128


def calibration(session: UniversalSession, painter: UniversalPainter) -> list[dict]:
    feeds = []
    for i, path in enumerate(sorted((ROOT / "train-runs" / "clear-photos").glob("*"))[:12]
                             or sorted((DATA / "train").glob("*.jpg"))[:12]):
        picture = read_picture(path, 256)
        top, left = (picture.shape[-2] - CROP) // 2, (picture.shape[-1] - CROP) // 2
        crop = np.ascontiguousarray(picture[..., top:top + CROP, left:left + CROP])
        moved = feature_transforms.stylised(session.encode(crop)[0], "wct",
                                            painter.statistics_at(CROP)[0][i % len(painter.paintings)])
        feeds.append({"photo": crop, "features": np.ascontiguousarray(moved[None], dtype=np.float32)})
    return feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--time-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nstbatch-int8-universal-"))
    prepared = work / "prepared.onnx"
    prepare(MODEL, prepared)
    float_session = UniversalSession(MODEL, ["CPUExecutionProvider"])
    paintings = [read_picture(path, max_long_side=PAINTING_MAX_SIDE) for path in sorted((DATA / "style").glob("*.jpg"))]
    float_painter = UniversalPainter(float_session, paintings)
    feeds = calibration(float_session, float_painter)
    photos = [read_picture(path, args.size) for path in sorted((DATA / "content").glob("*"))]
    timed_photo = read_picture(sorted((DATA / "content").glob("*"))[0], args.time_size)
    convolutions = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type == "Conv"]
    recipes = {"every convolution": [],
               "the decoder only": [name for name in convolutions if name.startswith("/encoder/")],
               "the encoder only": [name for name in convolutions if name.startswith("/decoder/")]}
    blends = [np.eye(len(paintings), dtype=np.float32)[[k]] for k in range(len(paintings))]
    rows = []
    for label, kept_float in recipes.items():
        path = work / f"{len(rows)}.onnx"
        quantise_convolutions(prepared, path, feeds, kept_float)  # `export model --int8`'s recipe
        painter = UniversalPainter(UniversalSession(path, ["CPUExecutionProvider"]), paintings)
        means = [float(np.abs(np.clip(float_painter(photo, blend), 0, 1) - np.clip(painter(photo, blend), 0, 1)).mean()
                       * 255) for photo in photos for blend in blends]
        times = {"float": [], "int8": []}
        for _ in range(args.repeats + 1):
            for name, which in (("float", float_painter), ("int8", painter)):
                started = time.perf_counter()
                which(timed_photo, blends[0])
                times[name].append(time.perf_counter() - started)
        ratio = statistics.median(times["int8"][1:]) / statistics.median(times["float"][1:])
        rows.append((label, len(convolutions) - len(kept_float), max(means), statistics.mean(means), ratio,
                     1000 * statistics.median(times["float"][1:])))
        print(rows[-1], flush=True)
    lines = [f"### int8 for the universal network, {time.strftime('%Y-%m-%d')}, {cpu_name()}, onnxruntime "
             f"{ort.__version__}", "",
             f"`python benchmarks/bench_int8_universal.py --size {args.size} --time-size {args.time_size} --repeats "
             f"{args.repeats}`: `nstbatch/models/universal/model.onnx` quantised by onnxruntime (QDQ, weights int8 per "
             f"channel, u8 activations at the 99.99th percentile), calibrated on 12 training crops with the decoder's "
             f"input given each painting's statistics; measured through the whole painter against the float file on "
             f"{len(photos)} photos x {len(paintings)} paintings at {args.size} px; time at {args.time_size} px, "
             f"painting cached. The tolerance `export model --int8` holds a styliser to: a mean of 2 grey levels.", "",
             "| int8 | convolutions | mean difference, worst pair | mean of the pairs | time × float | float, ms |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {label} | {count} of {len(convolutions)} | {worst:.2f} | {mean:.2f} | {ratio:.2f}× | {ms:.0f} |"
              for label, count, worst, mean, ratio, ms in rows]
    publish(lines)


if __name__ == "__main__":
    main()
