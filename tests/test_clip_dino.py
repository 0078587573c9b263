"""Tests of the reference solutions in course/clip_dino.py and course/label_propagation.py,
offline with tiny local models.

The graded cases (instructor/grading/cases.py) run here on the reference, in one process; the rest
covers what the graded cases do not: error messages, devices, the DAVIS layouts and the tiny
models themselves.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from PIL import Image

import course.clip_dino as ref
import course.label_propagation as ref_propagation
from course import assignment as config
from course.checks import criteria, fixtures
from course.exercises.clip_image_retriever import RETRIEVAL_QUERIES
from course.exercises.clip_zero_shot_classifier import ZERO_SHOT_CLASSES
from course.exercises.compute_iou import IOU_HAND
from course.exercises.davis_dataset import davis_sample
from course.exercises.dino_segmentation import segmentation_task
from course.exercises.get_similarity_no_loop import rel_error, seed_similarity_inputs
from course.checks.seed_table import SEED_SIMILARITY_TABLE
from course.models import tiny_clip, tiny_dino
from course.palette import davis_palette
from instructor.grading.cases import CASES
from instructor.grading.grader import run_in_process

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
REFERENCE = {"clip_dino": ref, "label_propagation": ref_propagation}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reference_passes_graded_case(case):
    verdict, _ = run_in_process(case, REFERENCE)
    assert verdict.passed, verdict.message


def write_davis_fixture(root):
    """The public DavisDataset case's folder: "clip2016" (0/255 masks) and "clip2017" (palette)."""
    for relative, data in davis_sample().files.items():
        path = root / relative.removeprefix("DAVIS/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# ----------------------------------------------------------------------------------------------
# get_similarity_no_loop
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_similarity_matches_seed_table(device):
    text, image = seed_similarity_inputs()
    out = ref.get_similarity_no_loop(text.to(device), image.to(device))
    assert out.device.type == device and out.shape == (6, 5)
    assert rel_error(out.cpu().numpy(), SEED_SIMILARITY_TABLE) < config.REL_ERROR_MAX


def test_similarity_does_not_change_inputs():
    text, image = seed_similarity_inputs()
    text_copy, image_copy = text.clone(), image.clone()
    ref.get_similarity_no_loop(text, image)
    assert torch.equal(text, text_copy) and torch.equal(image, image_copy)


@pytest.mark.parametrize("text_shape, image_shape, words", [
    ((6,), (5, 10), "2-D"),
    ((1, 6, 10), (5, 10), "2-D"),
    ((6, 10), (5, 12), "D=10"),
])
def test_similarity_shape_errors_are_clear(text_shape, image_shape, words):
    with pytest.raises(ValueError, match=words):
        ref.get_similarity_no_loop(torch.randn(text_shape), torch.randn(image_shape))


# ----------------------------------------------------------------------------------------------
# CLIP zero-shot and retrieval
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip():
    return tiny_clip(seed=3)


def test_zero_shot_predictions_vary_and_ignore_batch_size(clip):
    model, preprocess = clip
    images = fixtures.generated_images(12, seed=1)
    preds = [ref.clip_zero_shot_classifier(model, preprocess, images, ZERO_SHOT_CLASSES, "cpu", batch_size=b)
             for b in (1, 5, 64)]
    assert preds[0] == preds[1] == preds[2]
    assert len(set(preds[0])) > 1, "a test where every image gets one class could not catch argmax mistakes"


def test_zero_shot_rejects_bad_images(clip):
    model, preprocess = clip
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        ref.clip_zero_shot_classifier(model, preprocess, [np.zeros((8, 8, 3), np.float32)], ["a"], "cpu")
    with pytest.raises(ValueError, match="at least one class"):
        ref.clip_zero_shot_classifier(model, preprocess, fixtures.generated_images(1, 0), [], "cpu")


def test_retriever_encodes_each_image_once(clip, monkeypatch):
    model, preprocess = clip
    calls = []
    original = model.encode_image
    monkeypatch.setattr(model, "encode_image", lambda x: calls.append(len(x)) or original(x))
    retriever = ref.CLIPImageRetriever(model, preprocess, fixtures.generated_images(10, seed=4), "cpu", batch_size=4)
    assert calls == [4, 4, 2]
    for query in RETRIEVAL_QUERIES:
        top = retriever.retrieve(query, k=3)
        assert len(top) == 3 and len(set(top)) == 3 and all(0 <= i < 10 for i in top)
    assert calls == [4, 4, 2], "retrieve must not encode the images again"


@pytest.mark.parametrize("k", [0, 11, -1])
def test_retrieve_k_out_of_range_is_a_clear_error(clip, k):
    model, preprocess = clip
    retriever = ref.CLIPImageRetriever(model, preprocess, fixtures.generated_images(10, seed=4), "cpu")
    with pytest.raises(ValueError, match="10 images"):
        retriever.retrieve("sports", k=k)


# ----------------------------------------------------------------------------------------------
# DINOSegmentation and compute_iou
# ----------------------------------------------------------------------------------------------


class MajorityHead:
    """A broken head: predicts the training frame's most common label everywhere."""

    def __init__(self, device, num_classes, inp_dim=384):
        self.label = 0

    def train(self, X, Y, num_iters=500):
        self.label = int(torch.as_tensor(Y).flatten().mode().values)

    def inference(self, X):
        return torch.full(torch.as_tensor(X).shape[:-1], self.label, dtype=torch.long)


def test_segmentation_thresholds_hold_for_reference_and_fail_for_a_broken_head():
    case = next(c for c in CASES if c.question == "DINOSegmentation" and c.public)
    verdict, record = run_in_process(case, REFERENCE)  # fails below the thresholds
    _, labels, _ = segmentation_task(0)
    preds = np.stack([p["values"] for p in record["outputs"]["preds"]])
    ious = criteria.frame_ious(preds, labels, 3)
    assert verdict.passed and ious.mean() < 0.95, f"the generated task is trivial ({verdict.message})"

    verdict, record = run_in_process(case, {"clip_dino": types.SimpleNamespace(DINOSegmentation=MajorityHead)})
    assert not verdict.passed and "mean IoU" in verdict.message
    broken_ious = criteria.frame_ious(np.stack([p["values"] for p in record["outputs"]["preds"]]), labels, 3)
    assert broken_ious[0] <= config.IOU_FIRST_FRAME and broken_ious.mean() <= config.IOU_ALL_FRAMES


@pytest.mark.parametrize("device", DEVICES)
def test_segmentation_head_on_device_accepts_clip_shaped_input(device):
    features, labels, train = (torch.as_tensor(x) for x in segmentation_task(seed=2))
    head = ref.DINOSegmentation(device, 3)
    head.train(features[train:train + 2].to(device), labels[train:train + 2].long().to(device), num_iters=50)
    out = head.inference(features[:3].to(device))
    assert out.shape == labels[:3].shape and out.dtype == torch.long and out.device.type == device


def test_compute_iou_hand_values_and_input_kinds():
    hand = [(1 / 2 + 2 / 3) / 2, 1.0, (2 / 4 + 0 / 2) / 2, (2 / 3 + 1 / 2 + 1 / 3) / 3]  # worked out by hand
    for (pred, gt, num_classes), want in zip(IOU_HAND, hand, strict=True):
        for convert in (np.asarray, torch.tensor):
            assert ref.compute_iou(convert(pred), convert(gt), num_classes) == pytest.approx(want, abs=1e-9)


def test_compute_iou_errors():
    with pytest.raises(ValueError, match="shape"):
        ref.compute_iou(np.zeros((2, 2), int), np.zeros(4, int), 2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        ref.compute_iou(np.array([0, 2]), np.array([0, 1]), 2)


# ----------------------------------------------------------------------------------------------
# DavisDataset
# ----------------------------------------------------------------------------------------------


def test_missing_dataset_names_the_fetch_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="bash get_datasets.sh davis"):
        ref.DavisDataset(root=tmp_path / "nowhere")


def test_davis_2017_imagesets_give_the_order(tmp_path):
    write_davis_fixture(tmp_path)
    (tmp_path / "ImageSets" / "2017").mkdir(parents=True)
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("clip2017\nclip2016\n")
    ds = ref.DavisDataset(root=tmp_path, split="val")
    assert ds.sequences == ["clip2017", "clip2016"] and len(ds) == 2
    frames, masks = ds.get_sample(0)
    assert set(np.unique(masks)) == {0, 1, 2}  # palette ids, not colours


def test_davis_2016_imagesets_are_read(tmp_path):
    write_davis_fixture(tmp_path)
    (tmp_path / "ImageSets" / "480p").mkdir(parents=True)
    lines = [f"/JPEGImages/480p/clip2016/{t:05d}.jpg /Annotations/480p/clip2016/{t:05d}.png" for t in range(4)]
    (tmp_path / "ImageSets" / "480p" / "val.txt").write_text("\n".join(lines))
    ds = ref.DavisDataset(root=tmp_path, split="val")
    assert ds.sequences == ["clip2016"]
    _, masks = ds.get_sample("clip2016")
    assert set(np.unique(masks)) == {0, 1}  # 255 became 1


def test_davis_bad_arguments_are_clear(tmp_path):
    write_davis_fixture(tmp_path)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        ref.DavisDataset(root=tmp_path, image_size=100, patch_size=8)
    ds = ref.DavisDataset(root=tmp_path, image_size=64, patch_size=16)
    with pytest.raises(KeyError, match="clip2016"):
        ds.get_sample("bear")
    with pytest.raises(IndexError):
        ds.get_sample(5)
    with pytest.raises(ValueError, match="patch_size=8"):
        ds.process_frames(np.zeros((1, 64, 64, 3), np.uint8), tiny_dino(), "cpu")


def test_davis_palette_masks_roundtrip_through_png(tmp_path):
    mask = np.array([[0, 1, 2], [3, 0, 1]], np.uint8)
    png = Image.fromarray(mask, mode="P")
    png.putpalette(davis_palette().ravel().tolist())
    png.save(tmp_path / "m.png")
    reread = Image.open(tmp_path / "m.png")
    assert reread.mode == "P" and np.array_equal(np.array(reread), mask)
    assert np.array(reread.convert("RGB"))[0, 1].tolist() == [128, 0, 0]  # DAVIS object 1 is dark red


@pytest.mark.parametrize("device", DEVICES)
def test_patch_grid_follows_image_and_patch_size(tmp_path, device):
    write_davis_fixture(tmp_path)
    model = tiny_dino(patch_size=16, embed_dim=64, num_heads=2).to(device)
    ds = ref.DavisDataset(root=tmp_path, image_size=96, patch_size=16)
    frames, masks = ds.get_sample("clip2017")
    features = ds.process_frames(frames, model, device, batch_size=3)
    labels = ds.process_masks(masks, device)
    assert ds.grid_size == 6
    assert features.shape == (4, 36, 64) and labels.shape == (4, 36)
    assert features.device.type == device and labels.dtype == torch.long
    overlay = ds.mask_frame_overlay(labels[0], frames[0])
    assert overlay.shape == frames[0].shape and overlay.dtype == np.uint8
    background = ds.mask_frame_overlay(torch.zeros(36, dtype=torch.long), frames[0])
    assert np.array_equal(background, frames[0]), "background patches keep the frame's colours"
    objects = ds.mask_frame_overlay(torch.ones(36, dtype=torch.long), frames[0])
    assert (objects != frames[0]).any(-1).mean() > 0.9


# ----------------------------------------------------------------------------------------------
# Tiny models: the interfaces the real ones have
# ----------------------------------------------------------------------------------------------


def test_tiny_dino_has_dino_interface():
    model = tiny_dino()
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        layers = model.get_intermediate_layers(x, n=2)
        attn = model.get_last_selfattention(x)
    assert len(layers) == 2 and layers[-1].shape == (2, 1 + 8 * 6, 384)
    assert attn.shape == (2, 6, 49, 49)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 6, 49))
    assert ref.model_patch_size(model) == 8  # clip_dino uses course.vit's


def test_tiny_clip_is_deterministic_and_uses_the_real_tokenizer():
    import open_clip

    (a, _), (b, _) = tiny_clip(seed=5), tiny_clip(seed=5)
    tokens = open_clip.tokenize(["a photo of a zebra"])
    assert tokens.shape == (1, 77)
    with torch.no_grad():
        torch.testing.assert_close(a.encode_text(tokens), b.encode_text(tokens))
