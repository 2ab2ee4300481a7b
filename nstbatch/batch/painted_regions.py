"""Which painting goes where in a batch: the region options parsed once, and each photo's masks found.

Two ways to say where the regions are, usable together:

- ``--region MASK=STYLE`` (repeatable): a grey mask, white inside (soft where grey);
- ``--regions SEG --region-style COLOUR=STYLE`` (repeatable): a colour-coded segmentation.

MASK and SEG are a file (one for every photo) or a folder mirroring the inputs, holding a mask for each
photo under the photo's own path with an image suffix (``photos/a/b.jpg`` -> ``SEG/a/b.png``), as a
segmentation tool writes them for a folder. STYLE is what paints the region: ``photo`` (the photo kept
there), or paintings (files for optimisation, a network's painting names with --model), comma-separated
with optional weights (``a.jpg:0.7,b.jpg:0.3``), and for optimisation optionally ``@PAINTING_MASK``, the
part of the painting to take the style from. What no mask covers is painted by --style (or the network's
blend); with no --style, it is the photo.

A photo whose mask is missing or of another shape fails with one line, or with ``--missing-mask
unmasked`` is painted without regions; the batch goes on either way. Masks are facts about each result:
their hashes go in its manifest row and decide, on a re-run, whether it is still the result asked for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ImageError, UsageError
from ..media.images import opened
from ..media.masks import fitted, mask_beside, parse_colour, read_mask, read_segmentation
from ..records import file_sha256
from ..runtime.mixing import check_weights

PHOTO = "photo"  # the STYLE of a region kept as the photo
MISSING_MASK = ("fail", "unmasked")


@dataclass
class Region:
    """One region as the options gave it: where (a mask file or folder, or a colour of the segmentation)
    and what paints it (``paintings``: (file or name, weight) pairs; empty for the photo)."""

    label: str
    mask: Path | None = None  # a --region's mask file or folder
    colour: tuple[int, int, int] | None = None  # a --region-style's colour in the segmentation
    paintings: list[tuple[str, float]] = field(default_factory=list)
    painting_mask: Path | None = None

    @property
    def is_photo(self) -> bool:
        return not self.paintings


def parse_style(text: str, option: str) -> tuple[list[tuple[str, float]], Path | None]:
    """STYLE as (paintings with weights, painting mask): ``photo``, or ``a.jpg[:w],b.jpg[:w][@mask.png]``."""
    text = text.strip()
    if text.lower() == PHOTO:
        return [], None
    text, _, painting_mask = text.partition("@")
    paintings = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, colon, weight = item.rpartition(":")
        if not colon or not _is_number(weight):
            name, weight = item, "1"
        paintings.append((name, float(weight)))
    if not paintings:
        raise UsageError(f"{option}: '{text}' names no painting; give paintings, or 'photo'")
    check_weights([w for _, w in paintings], len(paintings), option)
    paintings = [(str(Path(name).absolute()) if Path(name).is_file() else name, w) for name, w in paintings]
    return paintings, Path(painting_mask).absolute() if painting_mask else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class PaintedRegions:
    """The regions of a run, and where each photo's masks are."""

    regions: list[Region]
    segmentation: Path | None = None  # --regions: a file, or a folder of per-photo segmentations
    missing: str = "fail"  # a photo whose masks are missing or do not fit: "fail", or "unmasked"

    @property
    def per_photo(self) -> bool:
        """Whether any mask is found per photo (a folder), not one for every photo."""
        sources = [self.segmentation] + [r.mask for r in self.regions]
        return any(source is not None and source.is_dir() for source in sources)

    def sources(self, relative: str) -> list[Path]:
        """The mask files the photo at ``relative`` uses: the segmentation, then each --region's mask;
        an ImageError when one is missing."""
        found = []
        for source in [self.segmentation] + [r.mask for r in self.regions if r.mask is not None]:
            if source is None:
                continue
            path = mask_beside(source, relative) if source.is_dir() else source
            if path is None:
                raise ImageError(Path(source) / relative, f"has no mask in {source} (looked for "
                                                        f"{Path(relative).with_suffix('.png')})")
            found.append(path)
        return found

    def masks(self, relative: str, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
        """The photo's masks at ``size`` (R x H x W, in ``regions``' order) and the hashes of the files read;
        an ImageError naming the file when one is missing, unreadable or of another shape."""
        return self.read(self.sources(relative), size)

    def read(self, paths: list[Path], size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
        """The masks in ``paths`` (the segmentation's first, then each --region's, as ``sources`` lists them)
        at ``size``, and the files' hashes."""
        by_path = iter(paths)
        segmentation = None
        if self.segmentation is not None:
            path = next(by_path)
            colours = [r.colour for r in self.regions if r.colour is not None]
            segmentation = iter(fitted(read_segmentation(path, colours), path, size))
        masks = []
        for region in self.regions:
            if region.colour is not None:
                masks.append(next(segmentation))
            else:
                path = next(by_path)
                masks.append(fitted(read_mask(path)[None], path, size)[0])
        return np.stack(masks), [file_sha256(path) for path in paths]

    def hashes(self, relative: str) -> list[str] | None:
        """The hashes of the photo's mask files now, as its row records them: [] where it would be painted
        without regions (missing, --missing-mask unmasked), None where it would fail."""
        try:
            return [file_sha256(path) for path in self.sources(relative)]
        except (ImageError, OSError):
            return [] if self.missing == "unmasked" else None

    def fallback(self, size: tuple[int, int]) -> np.ndarray:
        """Masks that cover nothing: the photo painted as if there were no regions (--missing-mask unmasked)."""
        return np.zeros((len(self.regions), *size), np.float32)

    def record(self) -> list[dict]:
        """The regions as the manifest keeps them (what decides the pictures): masks given once by their
        hashes, a folder of them by its name (each row, or a video's record, holds the hashes of those used); the
        paintings by name."""
        rows = []
        for region in self.regions:
            where = ({"colour": "#%02x%02x%02x" % region.colour} if region.colour is not None else
                     {"mask": _file_or_folder(region.mask)})
            rows.append({**where, "paintings": [[_file_or_name(name), w] for name, w in region.paintings],
                         "painting_mask": file_sha256(region.painting_mask) if region.painting_mask else None})
        segmentation = _file_or_folder(self.segmentation) if self.segmentation is not None else None
        return [{"segmentation": segmentation, "missing_mask": self.missing}, *rows]


def _file_or_folder(path: Path) -> str:
    return f"one a picture in {path.name}/" if path.is_dir() else file_sha256(path)


def _file_or_name(name: str) -> str:
    path = Path(name)
    return file_sha256(path) if path.is_file() else name


def _split_mask(text: str) -> tuple[str, str, str]:
    """MASK=STYLE split at the first '=' after which MASK names an existing file or folder (a mask's path
    may hold '=' itself); at the first '=' when none does, so the error names what was meant."""
    for at in (i for i, char in enumerate(text) if char == "="):
        if Path(text[:at].strip()).exists():
            return text[:at], "=", text[at + 1:]
    return text.partition("=")


def parse_regions(region: list[str] | None, regions: Path | None, region_style: list[str] | None,
                  missing: str = "fail") -> PaintedRegions | None:
    """The region options as PaintedRegions (None when none was given); a UsageError, before any work, for
    anything malformed or missing."""
    region, region_style = region or [], region_style or []
    if not region and regions is None and not region_style:
        return None
    if missing not in MISSING_MASK:
        raise UsageError(f"--missing-mask must be one of {', '.join(MISSING_MASK)}, not '{missing}'")
    if (regions is None) != (not region_style):
        raise UsageError("--regions and --region-style go together: the segmentation, and the colour of each region")
    painted = PaintedRegions([], None if regions is None else regions.absolute(), missing)
    if regions is not None and not regions.exists():
        raise UsageError(f"{regions}: no such file or folder for --regions")
    for text in region:
        mask, equals, style = _split_mask(text)
        if not equals or not mask.strip():
            raise UsageError(f"--region '{text}': expected MASK=STYLE, e.g. sky.png=starry.jpg or person.png=photo")
        mask_path = Path(mask.strip()).absolute()  # absolute: a worker elsewhere finds it too
        if not mask_path.exists():
            raise UsageError(f"{mask_path}: no such mask file or folder for --region")
        paintings, painting_mask = parse_style(style, "--region")
        painted.regions.append(Region(mask_path.stem, mask=mask_path, paintings=paintings, painting_mask=painting_mask))
    colours = set()
    for text in region_style:
        colour, equals, style = text.partition("=")
        if not equals:
            raise UsageError(f"--region-style '{text}': expected COLOUR=STYLE, e.g. red=starry.jpg or '#00ff00=photo'")
        rgb = parse_colour(colour)
        if rgb in colours:
            raise UsageError(f"--region-style: {colour.strip()} is given twice")
        colours.add(rgb)
        paintings, painting_mask = parse_style(style, "--region-style")
        painted.regions.append(Region(colour.strip().lstrip("#"), colour=rgb, paintings=paintings,
                                   painting_mask=painting_mask))
    for r in painted.regions:
        if r.painting_mask is not None and not r.painting_mask.is_file():
            raise UsageError(f"{r.painting_mask}: no such painting mask (after @ in the region of {r.label})")
    return painted


def check_single_masks(painted: PaintedRegions) -> None:
    """Masks given once for every photo are read before any work: a bad one is a usage error, not a
    failure of every photo."""
    for path in [painted.segmentation] + [r.mask for r in painted.regions]:
        if path is not None and path.is_file():
            try:
                read_mask(path)
            except ImageError as exc:
                raise UsageError(f"mask {exc}") from None


class ClipMasks:
    """An engine handed each frame's masks: ``for_frame(index)`` is the engine with frame ``index``'s masks
    (0-based, as painted). A mask file serves every frame (a camera that stays put); a folder holds one
    mask a frame, in frame order (frame_2 before frame_10), the k-th frame painted taking the k-th, as a
    segmentation tool writes them for a clip."""

    def __init__(self, engine, painted: PaintedRegions, frames: int):
        from ..media.frames import frame_files  # here: OpenCV comes with it, which `run` does not need

        self.engine, self.painted = engine, painted
        self._per_frame: dict[Path, list[Path]] = {}
        for source in [painted.segmentation] + [r.mask for r in painted.regions]:
            if source is not None and source.is_dir():
                files = frame_files(source)
                if len(files) < frames:
                    raise UsageError(f"{source}: {len(files)} masks for {frames} frames; give one mask a frame (in "
                                     f"frame order), or one mask file for the whole clip")
                self._per_frame[source] = files[:frames]
        self._fitted: dict = {}

    def sources(self, index: int) -> list[Path]:
        """The mask files of frame ``index``, as PaintedRegions.sources lists a photo's."""
        return [self._per_frame[source][index] if source in self._per_frame else source
                for source in [self.painted.segmentation] + [r.mask for r in self.painted.regions] if source is not None]

    def sha256(self) -> str:
        """One hash of every mask file the clip uses, in order: what decides its frames, for ``made_with``."""
        used = dict.fromkeys(path for index in range(max(map(len, self._per_frame.values()), default=1))
                             for path in self.sources(index))
        return hashlib.sha256("".join(file_sha256(path) for path in used).encode()).hexdigest()

    def check(self, size: tuple[int, int]) -> None:
        """Refuse, before any frame, masks that do not fit frames of ``size`` (height, width): the first
        frame's (and every frame's mask file when they are one a frame: their headers only)."""
        try:
            self.masks_for(0, size)
            for files in self._per_frame.values():
                for path in files[1:]:
                    with opened(path) as image:  # the header only
                        fitted(np.zeros((1, image.height, image.width), np.float32), path, size)
        except (ImageError, OSError) as exc:
            raise UsageError(f"mask {exc}") from None

    def masks_for(self, index: int, size: tuple[int, int]) -> np.ndarray:
        paths = tuple(self.sources(index))
        key = (paths, tuple(int(v) for v in size))
        if key not in self._fitted:
            if self._per_frame:  # one a frame: keep only the frame at hand
                self._fitted.clear()
            self._fitted[key] = self.painted.read(list(paths), key[1])[0]
        return self._fitted[key]

    def for_frame(self, index: int) -> "_FrameEngine":
        return _FrameEngine(self, index)

    # What the command says of the engine in its header line; everything else is asked of ``engine`` itself.
    @property
    def device(self):
        return self.engine.device

    @property
    def runs_on(self) -> str:
        return self.engine.runs_on


class _FrameEngine:
    """The engine as one frame sees it: each call handed that frame's masks at the picture's size."""

    def __init__(self, clip: ClipMasks, index: int):
        self.clip, self.index = clip, index

    def __call__(self, content, *args, **kwargs):
        masks = self.clip.masks_for(self.index, content.shape[-2:])
        return self.clip.engine(content, *args, masks=masks, **kwargs)


def for_frame(engine, index: int):
    """The engine that paints frame ``index``: with the clip's masks for that frame (ClipMasks), or the
    engine itself."""
    return engine.for_frame(index) if isinstance(engine, ClipMasks) else engine
