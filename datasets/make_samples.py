"""Build the small data shipped in ``datasets/samples`` from a DAVIS 2016 folder.

    python datasets/make_samples.py SOURCE_DIR [--out datasets/samples] [--frames 16] [--scale 0.5]

SOURCE_DIR is a DAVIS 2016 folder (``JPEGImages/480p/<seq>/*.jpg``, ``Annotations/480p/<seq>/*.png``
with 0/255 masks), e.g. the three-sequence sample ``../shared/data/davis2016-sample``. It writes:

- ``DAVIS/``: the first ``--frames`` frames of blackswan, dog and soapbox, downscaled, in DAVIS
  layout, masks kept in the 2016 0/255 format, plus ``ImageSets/480p/val.txt`` (2016 style).
- ``clip/``: eight downscaled frames with hand-written captions (``captions.json``) that stand in
  for the COCO selection when ``COURSE_OFFLINE=1``.

Frames come from DAVIS (CC BY 4.0); ``README.md`` next to the output credits it. Re-running with
the same source and options gives the same files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SEQUENCES = ("blackswan", "dog", "soapbox")

# (sequence, frame index, caption written by looking at the frame): the offline CLIP images.
CLIP_FRAMES = (
    ("blackswan", 0, "a black swan swimming on a pond"),
    ("blackswan", 49, "a black swan with a red beak next to a grassy bank"),
    ("dog", 0, "a golden retriever walking on dry grass"),
    ("dog", 55, "a dog with a red harness sniffing the ground"),
    ("soapbox", 0, "a wooden ramp on a street with people watching"),
    ("soapbox", 45, "a boy in a helmet riding a blue soapbox cart down a ramp"),
    ("soapbox", 75, "a man pushing a blue soapbox cart along a street"),
    ("soapbox", 98, "a soapbox race on a town street"),
)

DAVIS_CREDIT = (
    "DAVIS: Densely Annotated VIdeo Segmentation (Perazzi et al., CVPR 2016; Pont-Tuset et al., "
    "arXiv 2017), https://davischallenge.org, licensed CC BY 4.0. Frames downscaled by the kit."
)


def scaled_size(image: Image.Image, scale: float) -> tuple[int, int]:
    """(width, height) of ``image`` times ``scale``, rounded, at least 1 pixel each."""
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


def downscale_frame(path: Path, scale: float) -> Image.Image:
    """An RGB frame resized by ``scale`` with an antialiasing filter."""
    image = Image.open(path).convert("RGB")
    return image.resize(scaled_size(image, scale), Image.Resampling.LANCZOS)


def downscale_mask(path: Path, scale: float) -> Image.Image:
    """A DAVIS 2016 mask (0/255, "L") resized by ``scale``, still strictly 0/255.

    Averaging then thresholding at half keeps the object's outline smoother than nearest
    neighbour while leaving only the two DAVIS 2016 values.
    """
    mask = Image.open(path).convert("L")
    soft = np.asarray(mask.resize(scaled_size(mask, scale), Image.Resampling.BOX))  # [h, w] 0..255
    return Image.fromarray(np.where(soft >= 128, 255, 0).astype(np.uint8), mode="L")


def frame_paths(source: Path, sequence: str) -> list[Path]:
    """Sorted JPEG frames of one sequence; a clear error when the folder is not DAVIS."""
    frames = sorted((source / "JPEGImages" / "480p" / sequence).glob("*.jpg"))
    if not frames:
        raise SystemExit(
            f"no frames in {source / 'JPEGImages' / '480p' / sequence}: SOURCE_DIR must be a DAVIS "
            "folder with JPEGImages/480p/<sequence>/*.jpg and Annotations/480p/<sequence>/*.png"
        )
    return frames


def write_davis(source: Path, out: Path, num_frames: int, scale: float) -> list[str]:
    """Downscaled first frames and masks of each sequence; returns the ImageSets lines."""
    imageset_lines = []
    for sequence in SEQUENCES:
        frames_out = out / "JPEGImages" / "480p" / sequence
        masks_out = out / "Annotations" / "480p" / sequence
        frames_out.mkdir(parents=True, exist_ok=True)
        masks_out.mkdir(parents=True, exist_ok=True)
        for frame in frame_paths(source, sequence)[:num_frames]:
            mask = source / "Annotations" / "480p" / sequence / f"{frame.stem}.png"
            downscale_frame(frame, scale).save(frames_out / frame.name, quality=85)
            downscale_mask(mask, scale).save(masks_out / mask.name, optimize=True)
            imageset_lines.append(
                f"/JPEGImages/480p/{sequence}/{frame.name} /Annotations/480p/{sequence}/{mask.name}"
            )
    return imageset_lines


def write_clip(source: Path, out: Path, scale: float) -> list[dict]:
    """The captioned stand-ins for the COCO selection; returns their ``captions.json`` entries."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for number, (sequence, index, caption) in enumerate(CLIP_FRAMES, start=1):
        frame = frame_paths(source, sequence)[index]
        name = f"{sequence}_{frame.stem}.jpg"
        downscale_frame(frame, scale).save(out / name, quality=85)
        # The layout get_datasets.sh writes for COCO, so that one loader reads both.
        entries.append({"id": number, "file_name": name, "source": f"DAVIS 2016 {sequence}/{frame.name}",
                        "captions": [{"id": number, "caption": caption}]})
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="DAVIS 2016 folder (e.g. ../shared/data/davis2016-sample)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "samples")
    parser.add_argument("--frames", type=int, default=16, help="first frames kept per sequence")
    parser.add_argument("--scale", type=float, default=0.5, help="DAVIS frames: 854x480 -> 427x240")
    parser.add_argument("--clip-scale", type=float, default=0.375, help="CLIP images: 854x480 -> 320x180")
    args = parser.parse_args(argv)

    imageset = write_davis(args.source, args.out / "DAVIS", args.frames, args.scale)
    imageset_path = args.out / "DAVIS" / "ImageSets" / "480p" / "val.txt"
    imageset_path.parent.mkdir(parents=True, exist_ok=True)
    imageset_path.write_text("\n".join(imageset) + "\n")

    entries = write_clip(args.source, args.out / "clip", args.clip_scale)
    captions = {"credit": DAVIS_CREDIT, "images": entries}
    (args.out / "clip" / "captions.json").write_text(json.dumps(captions, indent=2) + "\n")

    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(imageset)} DAVIS frames and {len(entries)} CLIP images to {args.out} "
          f"({total / 1e6:.2f} MB in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
