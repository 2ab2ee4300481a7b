"""int8 copies of an exported styliser, for CPUs (`export model --int8`).

onnxruntime's static quantisation of the convolutions (QDQ, int8 weights per channel, 8-bit activations
calibrated on photos at their 99.99th percentile). Which convolutions go int8 is measured, not assumed: an
error in the first ones is amplified by every instance normalisation after them, so each convolution is
quantised alone and costed on photos the calibration never saw, then they are added cheapest first while the
picture stays within a share of the tolerance. The copy is kept only if it then passes on every held-out photo
(mean pixel difference, style and content distance from the float picture) and is faster than the float file
on this machine; otherwise nothing is written and Int8Error says why.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import NstError
from ..media.images import read_picture
from ..network.model_file import int8_path
from ..records import file_sha256
from ..runtime.defaults import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS

MEAN_TOLERANCE = 2.0  # grey levels of 255: the mean difference from the float picture, on every held-out photo
DISTANCE_TOLERANCE = 0.02  # style and content distance of the int8 picture from the float one (photo = 1)
SELECTION_SHARE = 0.75  # the selection stops here, leaving room for the user's photos, which are not these
HELD_OUT = 4  # photos kept from the calibration to judge it
MIN_PHOTOS = 8
CALIBRATION_SIDE = 160  # centre crops of photos read at VALIDATION_SIDE
VALIDATION_SIDE = 256
TIMING_SIDE = 512
TIMING_REPEATS = 7
STYLE_LAYERS = DEFAULT_STYLE_LAYERS  # the distances are the project's measure, at optimisation's layers
CONTENT_LAYER = DEFAULT_CONTENT_LAYERS[0]


class Int8Error(NstError):
    """No int8 copy was kept: too few photos, or none that is both faithful and faster."""


@dataclass
class Int8Report:
    quantised: list[str]  # the convolutions in int8, by their node names
    convolutions: int  # how many the network has
    held_out: int  # the photos it was judged on
    worst_mean: float  # grey levels, the worst held-out photo
    largest: float  # grey levels, the largest single difference
    style_distance: float  # the worst held-out photo's, from the float picture (photo = 1)
    content_distance: float
    time_ratio: float  # int8 over float, one photo at TIMING_SIDE on this machine

    def table(self) -> str:
        return "\n".join([
            f"int8: {len(self.quantised)} of {self.convolutions} convolutions quantised, judged on {self.held_out} "
            f"photos left out of the calibration",
            f"  mean difference from the float picture, worst photo: {self.worst_mean:.2f} grey levels "
            f"(at most {MEAN_TOLERANCE:g})",
            f"  largest single difference: {self.largest:.0f} grey levels",
            f"  style / content distance from the float picture: {self.style_distance:.4f} / "
            f"{self.content_distance:.4f} (at most {DISTANCE_TOLERANCE:g} each; the photo itself scores 1)",
            f"  a {TIMING_SIDE} px photo's time on this machine: {self.time_ratio:.2f}x the float file's"])

    def record(self) -> dict:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


def quantise(float_model, photos: list[Path], output=None, say=print) -> Int8Report:
    """Write the int8 copy of the styliser ``float_model`` to ``output`` (default ``int8_path``), calibrated on
    ``photos`` (all but HELD_OUT of them) and judged on the rest; Int8Error when none passes."""
    import onnx

    float_model, output = Path(float_model), Path(output) if output else int8_path(float_model)
    if len(photos) < MIN_PHOTOS:
        raise Int8Error(f"--int8 calibrates on photos and judges on others: give at least {MIN_PHOTOS} with "
                        f"--calibration (found {len(photos)})")
    photos = sorted(photos)
    pictures = [read_picture(path, VALIDATION_SIDE) for path in photos]
    judge = Judge(float_model, pictures[-HELD_OUT:])
    calibration = [judge.feed(_centre(picture), i) for i, picture in enumerate(pictures[:-HELD_OUT])]
    with tempfile.TemporaryDirectory(prefix="nstbatch-int8-") as work:
        work = Path(work)
        prepared = work / "prepared.onnx"
        prepare(float_model, prepared)
        convolutions = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type == "Conv"]

        def trial(chosen: list[str]) -> tuple[Path, dict]:
            path = work / "trial.onnx"
            quantise_convolutions(prepared, path, calibration, [name for name in convolutions if name not in chosen])
            return path, judge.pixels(path)

        say(f"int8: costing each of {len(convolutions)} convolutions alone on {HELD_OUT} held-out photos")
        alone = {name: trial([name])[1]["worst_mean"] for name in convolutions}
        chosen: list[str] = []
        for name in sorted(convolutions, key=alone.get):  # cheapest first, while the picture allows
            if trial([*chosen, name])[1]["worst_mean"] > SELECTION_SHARE * MEAN_TOLERANCE:
                break
            chosen.append(name)
        if not chosen:
            raise Int8Error(f"{float_model}: every convolution alone moves the picture by more than "
                            f"{SELECTION_SHARE * MEAN_TOLERANCE:g} grey levels in int8; no int8 copy written")
        path, pixels = trial(chosen)
        report = Int8Report(chosen, len(convolutions), HELD_OUT, **pixels, **judge.distances(path),
                            time_ratio=judge.time_ratio(path))
        say(report.table())
        _check(report, float_model)
        model = onnx.load(str(path))
        _stamp(model, report, float_model, photos)
        with atomic_path(output) as staged:
            onnx.save(model, str(staged))
    return report


def _check(report: Int8Report, float_model: Path) -> None:
    misses = []
    if report.worst_mean > MEAN_TOLERANCE:
        misses.append(f"a mean difference of {report.worst_mean:.2f} grey levels")
    if max(report.style_distance, report.content_distance) > DISTANCE_TOLERANCE:
        misses.append(f"style / content distance {report.style_distance:.4f} / {report.content_distance:.4f}")
    if misses:
        raise Int8Error(f"{float_model}: the int8 copy misses the tolerance ({'; '.join(misses)}); no int8 copy "
                        f"written")
    if report.time_ratio >= 1.0:
        raise Int8Error(f"{float_model}: the int8 copy is no faster on this machine ({report.time_ratio:.2f}x the "
                        f"float file's time); no int8 copy written, the float file serves")


def _stamp(model, report: Int8Report, float_model: Path, photos: list[Path]) -> None:
    """The float file's metadata, marked int8, with what judged it and what it was made from."""
    props = {prop.key: prop.value for prop in model.metadata_props}
    props.update(precision="int8", int8="true", float_sha256=file_sha256(float_model),
                 int8_validation=json.dumps(report.record()),
                 int8_calibration=json.dumps({"photos": [path.name for path in photos],
                                              "sha256": [file_sha256(path) for path in photos]}))
    del model.metadata_props[:]
    for key, value in props.items():
        if not key.startswith("onnx."):  # the quantiser's own working notes
            model.metadata_props.add(key=key, value=value)


def prepare(float_model: Path, prepared: Path) -> None:
    """The float graph with its shapes inferred and its layers fused, as the quantiser wants it. A graph that
    resamples a per-pixel blend (export --style-map) defeats the symbolic inference: ONNX's own serves. The
    symbolic inference leaves the graph it gave up on in the working folder: the work folder is made that."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    float_model = float_model.resolve()
    with _quiet(), contextlib.chdir(prepared.parent):
        try:
            quant_pre_process(str(float_model), str(prepared))
        except Exception:  # onnxruntime raises a bare Exception for "Incomplete symbolic shape inference"
            quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)


def quantise_convolutions(prepared: Path, output: Path, feeds: list[dict], excluded: list[str]) -> None:
    """The recipe: ``prepared``'s convolutions but ``excluded`` in int8, calibrated on ``feeds`` (input dicts)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self.left = iter(feeds)

        def get_next(self):
            return next(self.left, None)

    with _quiet():
        quantize_static(str(prepared), str(output), Feeds(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, op_types_to_quantize=["Conv"],
                        nodes_to_exclude=excluded, calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": 99.99})


@contextlib.contextmanager
def _quiet():
    """The quantiser prints its histogram settings on every call: not the user's business."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _centre(picture: np.ndarray) -> np.ndarray:
    """A CALIBRATION_SIDE square from the picture's centre: every calibration picture one shape, as the
    quantiser's histograms need; a picture narrower than that is mirrored out to it."""
    side = CALIBRATION_SIDE
    short = [max(0, side - size) for size in picture.shape[-2:]]
    picture = np.pad(picture, [(0, 0), (0, 0), (0, short[0]), (0, short[1])], mode="symmetric")
    top, left = (picture.shape[-2] - side) // 2, (picture.shape[-1] - side) // 2
    return np.ascontiguousarray(picture[..., top:top + side, left:left + side])


class Judge:
    """The float file's pictures of the held-out photos, and what a quantised copy's differ by."""

    def __init__(self, float_model: Path, photos: list[np.ndarray]):
        from ..network.model_file import UNIVERSAL_KIND, model_metadata, stylizer_metadata

        metadata = model_metadata(float_model)  # a damaged file or another kind of model: one line, first
        if metadata.get("kind") == UNIVERSAL_KIND:
            raise Int8Error(f"{float_model}: a universal network; int8 copies are made of networks of their own "
                            f"paintings only")
        if metadata.get("precision") == "int8":
            raise Int8Error(f"{float_model}: already an int8 copy; give the float file it was made from")
        self.paintings = len(stylizer_metadata(float_model, metadata)["styles"])
        self.float_model, self.photos = float_model, photos
        self.float_session = self._session(float_model)
        self.inputs = [i.name for i in self.float_session.get_inputs()]
        self.expected = [self._paint(self.float_session, photo, i) for i, photo in enumerate(photos)]

    @staticmethod
    def _session(path: Path):
        import onnxruntime as ort

        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def feed(self, picture: np.ndarray, index: int) -> dict:
        """A picture's inputs, painted with one painting in turn (a multi-painting network is judged on each)."""
        weights = np.zeros((1, self.paintings), np.float32)
        weights[0, index % self.paintings] = 1
        feed = {"image": picture}
        if "style" in self.inputs:
            feed["style"] = weights
        if "style_map" in self.inputs:
            feed["style_map"] = weights[:, :, None, None]
        return feed

    def _paint(self, session, photo: np.ndarray, index: int) -> np.ndarray:
        return session.run(["stylized"], self.feed(photo, index))[0]

    def pixels(self, path: Path) -> dict:
        session = self._session(path)
        differences = [np.abs(self._paint(session, photo, i) - want) * 255
                       for i, (photo, want) in enumerate(zip(self.photos, self.expected))]
        return {"worst_mean": max(float(d.mean()) for d in differences),
                "largest": max(float(d.max()) for d in differences)}

    def distances(self, path: Path) -> dict:
        """The project's style and content distances of the int8 picture, with the float picture as the target
        (the photo scores 1): the worst held-out photo's."""
        import torch

        from ..runtime.gram import gram
        from ..runtime.vgg import load_vgg19

        vgg, session = load_vgg19(), self._session(path)
        layers = [*STYLE_LAYERS, CONTENT_LAYER]
        style, content = [], []
        with torch.no_grad():
            for i, (photo, want) in enumerate(zip(self.photos, self.expected)):
                got = self._paint(session, photo, i)
                f_photo, f_want, f_got = (vgg(torch.from_numpy(np.ascontiguousarray(x)).clamp(0, 1), layers)
                                          for x in (photo, want, got))
                style.append(statistics.mean(
                    float(torch.sum((gram(f_got[n]) - gram(f_want[n])) ** 2)
                          / torch.sum((gram(f_photo[n]) - gram(f_want[n])) ** 2).clamp_min(1e-12))
                    for n in STYLE_LAYERS))
                content.append(float(torch.sum((f_got[CONTENT_LAYER] - f_want[CONTENT_LAYER]) ** 2)
                                     / torch.sum((f_photo[CONTENT_LAYER] - f_want[CONTENT_LAYER]) ** 2)
                                     .clamp_min(1e-12)))
        return {"style_distance": max(style), "content_distance": max(content)}

    def time_ratio(self, path: Path) -> float:
        """int8 over float for one photo at TIMING_SIDE: medians, the two interleaved so both see the same load."""
        times_larger = -(-TIMING_SIDE // max(self.photos[0].shape[-2:]))  # pixels repeated: the size is what counts
        photo = self.photos[0].repeat(times_larger, axis=-2).repeat(times_larger, axis=-1)
        photo = np.ascontiguousarray(photo[..., :TIMING_SIDE, :TIMING_SIDE])
        sessions = {"float": self.float_session, "int8": self._session(path)}
        times = {name: [] for name in sessions}
        for _ in range(TIMING_REPEATS + 1):
            for name, session in sessions.items():
                started = time.perf_counter()
                self._paint(session, photo, 0)
                times[name].append(time.perf_counter() - started)
        return statistics.median(times["int8"][1:]) / statistics.median(times["float"][1:])
