"""SAM2 in the kit: the model family (SAM2.1's published sizes, a small offline stand-in, the
loader) and SAM2 prompted with boxes.

``load_sam2`` gives transformers' ``Sam2Model`` with its ``Sam2Processor``: the SAM2.1 weights from
the Hugging Face hub (not gated), or, offline (``COURSE_OFFLINE=1``), ``tiny_sam2()``: a small SAM2
built through transformers' public config classes with seeded random weights, so that every code
path runs without a download; its masks carry no meaning. ``random_sam2(HIERA_TINY)`` builds the
real hiera-tiny architecture with random weights (the real-architecture tests put it where the
download would go). ``segment_boxes`` computes the image embedding once and decodes one mask per
box prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from course.paths import hf_hub_dir, offline

DEFAULT_SAM2 = "facebook/sam2.1-hiera-tiny"
# Hugging Face hub ids of SAM2.1 (not gated), with their published sizes (image + video model).
SAM2_MODEL_IDS = {
    "facebook/sam2.1-hiera-tiny": "39 M parameters",
    "facebook/sam2.1-hiera-small": "46 M parameters",
    "facebook/sam2.1-hiera-base-plus": "81 M parameters",
    "facebook/sam2.1-hiera-large": "224 M parameters",
}


@dataclass(frozen=True)
class Sam2Sizes:
    """The sizes of a SAM2 image model (Hiera trunk, FPN neck, prompt encoder, mask decoder).

    Defaults: SAM2.1 hiera-tiny as published (``sam2.1_hiera_t.yaml``: embed_dim 96, num_heads 1,
    stages [1, 2, 7, 2], global_att_blocks [5, 7, 9], window_pos_embed_bkg_spatial_size [7, 7],
    backbone_channel_list [768, 384, 192, 96], d_model 256; Hiera's window_spec (8, 4, 14, 7)).
    That builds 31.4 M parameters in ``Sam2Model`` (the image model); the video model's memory
    modules bring it to the published 39.0 M.
    """

    image_size: int = 1024
    embed_dim_per_stage: tuple = (96, 192, 384, 768)
    heads_per_stage: tuple = (1, 2, 4, 8)
    blocks_per_stage: tuple = (1, 2, 7, 2)
    global_attention_blocks: tuple = (5, 7, 9)
    window_size_per_stage: tuple = (8, 4, 14, 7)
    hidden_size: int = 256  # FPN, prompt encoder and mask decoder width
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8


HIERA_TINY = Sam2Sizes()
# A small SAM2 for offline runs: 64x64 inputs, 4x4 image embedding, about 0.1 M parameters.
TINY_SAM2 = Sam2Sizes(image_size=64, embed_dim_per_stage=(8, 16, 32, 64), heads_per_stage=(1, 1, 2, 2),
                      blocks_per_stage=(1, 1, 2, 1), global_attention_blocks=(3,),
                      window_size_per_stage=(4, 4, 4, 2), hidden_size=32, decoder_mlp_dim=64, decoder_heads=4)


def sam2_config(sizes: Sam2Sizes = HIERA_TINY):
    """A transformers ``Sam2Config`` with ``sizes`` (feature maps at strides 4, 8 and 16)."""
    from transformers import (Sam2Config, Sam2HieraDetConfig, Sam2MaskDecoderConfig, Sam2PromptEncoderConfig,
                              Sam2VisionConfig)

    side = sizes.image_size
    trunk = Sam2HieraDetConfig(
        hidden_size=sizes.embed_dim_per_stage[0], num_attention_heads=sizes.heads_per_stage[0], image_size=side,
        blocks_per_stage=list(sizes.blocks_per_stage), embed_dim_per_stage=list(sizes.embed_dim_per_stage),
        num_attention_heads_per_stage=list(sizes.heads_per_stage),
        window_size_per_stage=list(sizes.window_size_per_stage),
        global_attention_blocks=list(sizes.global_attention_blocks))
    vision = Sam2VisionConfig(backbone_config=trunk, backbone_channel_list=list(sizes.embed_dim_per_stage[::-1]),
                              backbone_feature_sizes=[[side // 4] * 2, [side // 8] * 2, [side // 16] * 2],
                              fpn_hidden_size=sizes.hidden_size)
    prompts = Sam2PromptEncoderConfig(hidden_size=sizes.hidden_size, image_size=side, patch_size=16)
    decoder = Sam2MaskDecoderConfig(hidden_size=sizes.hidden_size, mlp_dim=sizes.decoder_mlp_dim,
                                    num_attention_heads=sizes.decoder_heads, iou_head_hidden_dim=sizes.hidden_size)
    return Sam2Config(vision_config=vision, prompt_encoder_config=prompts, mask_decoder_config=decoder)


def sam2_parameter_counts(sizes: Sam2Sizes = HIERA_TINY) -> tuple[int, int]:
    """Parameters of the SAM2 image model of ``sizes`` (``Sam2Model``) and of the video model built
    around it (``Sam2VideoModel``: memory attention and memory encoder added), which is what the
    published sizes count. Counted on the meta device: no memory, no time."""
    from transformers import Sam2Model, Sam2VideoConfig, Sam2VideoModel

    config = sam2_config(sizes)
    with torch.device("meta"):
        image_model = Sam2Model(config)
        video_model = Sam2VideoModel(Sam2VideoConfig(vision_config=config.vision_config,
                                                     prompt_encoder_config=config.prompt_encoder_config,
                                                     mask_decoder_config=config.mask_decoder_config))
    return tuple(sum(p.numel() for p in model.parameters()) for model in (image_model, video_model))


def sam2_processor(image_size: int):
    """A ``Sam2Processor`` for ``image_size`` x ``image_size`` inputs (low-resolution masks a quarter of that)."""
    from transformers import Sam2ImageProcessor, Sam2Processor

    image_processor = Sam2ImageProcessor(size={"height": image_size, "width": image_size},
                                         mask_size={"height": image_size // 4, "width": image_size // 4})
    return Sam2Processor(image_processor=image_processor)


def random_sam2(sizes: Sam2Sizes = TINY_SAM2, seed: int = 0):
    """(model, processor): a ``Sam2Model`` of ``sizes`` with seeded random weights, in eval mode."""
    from transformers import Sam2Model

    config = sam2_config(sizes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sam2Model(config)
    return model.eval(), sam2_processor(sizes.image_size)


def tiny_sam2(seed: int = 0):
    """(model, processor): the small offline SAM2 (``TINY_SAM2`` sizes, random weights)."""
    return random_sam2(TINY_SAM2, seed)


def load_sam2(name: str = DEFAULT_SAM2, device=None, tiny: bool | None = None):
    """(model, processor): SAM2 on ``device`` (default CPU) in eval mode.

    Real: ``Sam2Model`` / ``Sam2Processor.from_pretrained(name)``, cached in ``cache/huggingface/hub``
    (the SAM2.1 weights are not gated). ``tiny`` (default: the ``COURSE_OFFLINE`` switch) builds
    ``tiny_sam2()`` instead.
    """
    if offline() if tiny is None else tiny:
        model, processor = tiny_sam2()
    else:
        from transformers import Sam2Model, Sam2Processor

        try:
            model = Sam2Model.from_pretrained(name, cache_dir=str(hf_hub_dir()))
            processor = Sam2Processor.from_pretrained(name, cache_dir=str(hf_hub_dir()))
        except OSError as error:  # no network, or a wrong name
            raise OSError(f"Could not load {name!r} from the Hugging Face hub ({error}). Choose one of "
                          f"{', '.join(SAM2_MODEL_IDS)} and check the runtime's network connection.") from error
    return model.to(device if device is not None else "cpu").eval(), processor


@torch.inference_mode()
def sam2_image_embeddings(model, processor, image) -> tuple[list[torch.Tensor], tuple[int, int]]:
    """SAM2's image embeddings (one vision-encoder pass) and the original size (H, W).

    The processor squashes the image to its square input size (no aspect kept), as SAM2 does.
    """
    inputs = processor(images=np.asarray(image), return_tensors="pt")
    pixels = inputs["pixel_values"].to(model.device, model.dtype)  # [1, 3, S, S]
    return model.get_image_embeddings(pixels), tuple(int(s) for s in inputs["original_sizes"][0])


@torch.inference_mode()
def decode_boxes(model, processor, embeddings, original_size: tuple[int, int], boxes,
                 boxes_per_batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask logits and predicted IoU of each box, from precomputed image embeddings.

    Inputs: ``boxes`` [K, 4] xyxy in original pixels. Returns (logits [K, s, s] at the decoder's
    low resolution, scores [K]); one mask per box (``multimask_output=False``), ``boxes_per_batch``
    boxes per decoder call (the embedding is shared).
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)  # [K, 4]
    logits, scores = [], []
    for start in range(0, len(boxes), boxes_per_batch):
        chunk = boxes[start:start + boxes_per_batch].tolist()
        prompts = processor(input_boxes=[chunk], original_sizes=[list(original_size)],
                            return_tensors="pt")["input_boxes"]  # [1, k, 4] in the model's frame
        out = model(image_embeddings=embeddings, input_boxes=prompts.to(model.device), multimask_output=False)
        logits.append(out.pred_masks[0, :, 0].float())  # [k, s, s]
        scores.append(out.iou_scores[0, :, 0].float())  # [k]
    if not logits:
        side = model.config.prompt_encoder_config.image_size // 4
        return torch.zeros(0, side, side), torch.zeros(0)
    return torch.cat(logits), torch.cat(scores)  # [K, s, s], [K]


def logits_to_masks(processor, logits: torch.Tensor, original_size: tuple[int, int]) -> np.ndarray:
    """Low-resolution mask logits [K, s, s] -> boolean masks [K, H, W] (bilinear, then > 0)."""
    if len(logits) == 0:
        return np.zeros((0, *original_size), dtype=bool)
    masks = processor.post_process_masks(logits[None, :, None].cpu(), [list(original_size)])[0]  # [K, 1, H, W]
    return masks[:, 0].numpy()  # [K, H, W]


def segment_boxes(model, processor, image, boxes, boxes_per_batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """SAM2 masks for box prompts: (masks [K, H, W] bool in the image's pixels, scores [K]).

    The image embedding is computed once for all K boxes; ``boxes`` [K, 4] xyxy in original pixels.
    """
    embeddings, original_size = sam2_image_embeddings(model, processor, image)
    logits, scores = decode_boxes(model, processor, embeddings, original_size, boxes, boxes_per_batch)
    return logits_to_masks(processor, logits, original_size), scores.cpu().numpy()
