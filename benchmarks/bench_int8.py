"""Quantising a bundled network for CPUs (issue 43): onnxruntime's static quantisation of the float ONNX
file with several recipes, each measured on photos that were not in its calibration against the float file:
the mean and largest pixel difference (in grey levels of 255) and a photo's time on onnxruntime's CPU
provider (median of --repeats after a warm-up, float and int8 interleaved in the same process).

Every recipe quantises the convolutions only (QDQ, weights int8 per channel); they differ in the activations'
type and calibration, and in which convolutions stay float. Calibration: centre crops of the first 16
training photos (../shared/data/train); measured on the bundled content photos (../shared/data/content).

    .venv/bin/python benchmarks/bench_int8.py [--model starry_night] [--size 256] [--repeats 20]

Needs the full install (onnx, for onnxruntime's quantisation tools). Prints the table and appends it to
benchmarks/RESULTS.md with the machine and the date.
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
from _results import cpu_name, publish
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from nstbatch.media.images import read_picture
from nstbatch.network.model_file import locate

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CALIBRATION_SIDE = 160


def crop(picture: np.ndarray, side: int = CALIBRATION_SIDE) -> np.ndarray:
    top, left = (picture.shape[-2] - side) // 2, (picture.shape[-1] - side) // 2
    return np.ascontiguousarray(picture[..., top:top + side, left:left + side])


class Photos(CalibrationDataReader):
    def __init__(self, feeds: list[dict]):
        self.feeds = iter(feeds)

    def get_next(self):
        return next(self.feeds, None)


PERCENTILE = dict(activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.Percentile,
                  extra_options={"CalibPercentile": 99.99})
ALONE_TOLERANCE = 0.6  # grey levels: a convolution that costs at most this quantised alone joins "the quiet ones"


def recipes(convolutions: list[str], quiet: list[str]) -> dict[str, dict]:
    ends = [convolutions[0], convolutions[-1]]
    return {
        "u8, min-max": dict(activation_type=QuantType.QUInt8),
        "u8, min-max, first and last float": dict(activation_type=QuantType.QUInt8, nodes_to_exclude=ends),
        "u8, 99.99th percentile, first and last float": dict(
            activation_type=QuantType.QUInt8, nodes_to_exclude=ends, calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": 99.99}),
        "u16 activations, first and last float": dict(activation_type=QuantType.QUInt16, nodes_to_exclude=ends),
        f"u8, percentile, only the {len(quiet)} quiet convolutions": dict(
            **PERCENTILE, nodes_to_exclude=[c for c in convolutions if c not in quiet]),
    }


def seconds(session, feed: dict, repeats: int) -> float:
    session.run(None, feed)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="starry_night")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    model = locate(args.model)
    work = Path(tempfile.mkdtemp(prefix="nstbatch-int8-"))
    prepared = work / "prepared.onnx"
    quant_pre_process(str(model), str(prepared))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 0
    float_session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in float_session.get_inputs()]

    def feed(picture):
        extra = {"style": np.ones((1, 1), np.float32)} if "style" in names else {}
        return {"image": picture, **extra}

    calibration = [feed(crop(read_picture(p, 256))) for p in sorted((DATA / "train").glob("*.jpg"))[:16]]
    photos = {p.name: read_picture(p, args.size) for p in sorted((DATA / "content").glob("*"))}
    convolutions = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type == "Conv"]

    def quantised(path: Path, recipe: dict):
        quantize_static(str(prepared), str(path), Photos(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"], **recipe)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        means, largest = [], 0.0
        for picture in photos.values():
            difference = np.abs(float_session.run(None, feed(picture))[0] - session.run(None, feed(picture))[0]) * 255
            means.append(float(difference.mean()))
            largest = max(largest, float(difference.max()))
        return session, means, largest

    alone = {}  # each convolution quantised by itself: what it costs the picture
    for name in convolutions:
        _, means, _ = quantised(work / "alone.onnx", dict(**PERCENTILE, nodes_to_exclude=[c for c in convolutions
                                                                                          if c != name]))
        alone[name] = max(means)
    quiet = [name for name in convolutions if alone[name] <= ALONE_TOLERANCE]
    rows = []
    for label, recipe in recipes(convolutions, quiet).items():
        out = work / f"{len(rows)}.onnx"
        session, means, largest = quantised(out, recipe)
        first = feed(next(iter(photos.values())))
        ratios = [seconds(session, first, args.repeats) / seconds(float_session, first, args.repeats) for _ in range(3)]
        rows.append((label, max(means), min(means), largest, statistics.median(ratios), out.stat().st_size / 2**20))
        print(rows[-1], flush=True)
    lines = [f"### Quantising a network for CPUs, {time.strftime('%Y-%m-%d')}, {cpu_name()}, onnxruntime {ort.__version__}",
             "", f"`python benchmarks/bench_int8.py --model {args.model} --size {args.size} --repeats {args.repeats}`: "
             f"{model.name} of `{args.model}` quantised by onnxruntime (QDQ, convolutions only, weights int8 per channel), "
             f"calibrated on centre crops of 16 training photos; measured on the {len(photos)} content photos at "
             f"{args.size} px against the float file. Issue 43's tolerance: a mean of at most 2 grey levels.", "",
             "| recipe | mean difference, worst photo | best photo | largest pixel | time × float | MiB |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {label} | {worst:.2f} | {best:.2f} | {peak:.0f} | {ratio:.2f}× | {size:.1f} |"
              for label, worst, best, peak, ratio, size in rows]
    lines += ["", "Each convolution quantised alone (u8, percentile), the mean difference on the worst photo: "
              + ", ".join(f"{name.removeprefix('/network/').removesuffix('/Conv')} {cost:.2f}"
                          for name, cost in alone.items())
              + f"; the quiet ones (at most {ALONE_TOLERANCE}) are {len(quiet)}."]
    print("\n".join(lines))
    publish(lines)


if __name__ == "__main__":
    main()
