"""Model loading: the real pretrained models a student uses, and tiny local stand-ins.

The real loaders download once into the kit's ``cache/`` folder (on Drive in Colab):

- CLIP: OpenAI's ViT-B/32 through open_clip, as ``ViT-B-32-quickgelu`` (OpenAI trained it with
  QuickGELU; open_clip's plain ``ViT-B-32`` config builds ``nn.GELU`` and only warns, which changes
  every feature). Weights from the Hugging Face hub, cached in ``cache/huggingface/hub``.
- DINO ViT-S/8: by default timm's copy of DINO's own checkpoint on the Hugging Face hub
  (``timm/vit_small_patch8_224.dino``), built as ``DinoViT``, which gives it the interface of
  DINO's torch.hub models. The alternative ``source="hub"`` is DINO's torch.hub entry point
  (code from GitHub, pinned to a commit; weights in ``cache/torch/hub/checkpoints``).

The tiny builders make models with the same public classes and the same interfaces (an
``open_clip`` CLIP with QuickGELU and its real tokenizer; a ``DinoViT``) from a seed, with random
weights: they exercise every code path offline, but their outputs carry no meaning.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from course.paths import hf_hub_dir, offline, torch_hub_dir

CLIP_ARCH, CLIP_PRETRAINED = "ViT-B-32-quickgelu", "openai"

# DINO ViT-S/8 (the DINO paper's ViT-S with 8x8 patches): 12 blocks of width 384, 6 heads.
DINO_VITS8 = dict(patch_size=8, embed_dim=384, depth=12, num_heads=6)
# Default source: timm's registry entry for DINO's checkpoint, hosted on the Hugging Face hub.
DINO_TIMM_VARIANT, DINO_TIMM_TAG = "vit_small_patch8_224", "dino"
DINO_HF_REPO = f"timm/{DINO_TIMM_VARIANT}.{DINO_TIMM_TAG}"
# Alternative: DINO's torch.hub entry point, at the last commit of facebookresearch/dino.
DINO_HUB_COMMIT = "7c446df5b9f45747937fb0d72314eb9f7b66930a"
DINO_HUB_REPO, DINO_HUB_ENTRY = f"facebookresearch/dino:{DINO_HUB_COMMIT}", "dino_vits8"
DINO_SOURCES = ("timm", "hub")


def load_clip(device, tiny: bool | None = None):
    """(clip_model, clip_preprocess) on ``device``, in eval mode.

    Real: OpenAI's CLIP ViT-B/32 with QuickGELU through open_clip (weights cached in
    ``cache/huggingface/hub``). ``tiny`` (default: the ``COURSE_OFFLINE`` switch) builds
    ``tiny_clip()`` instead.
    """
    if offline() if tiny is None else tiny:
        model, preprocess = tiny_clip()
    else:
        import open_clip

        model, _, preprocess = open_clip.create_model_and_transforms(
            CLIP_ARCH, pretrained=CLIP_PRETRAINED, cache_dir=str(hf_hub_dir()))
    return model.to(device).eval(), preprocess


def clip_patch_tokens(model, pixels: torch.Tensor) -> torch.Tensor:
    """The patch tokens of CLIP's image tower for ``pixels`` [B, 3, S, S] (CLIP-preprocessed):
    [B, (S / patch)^2, width], the [CLS] token dropped, after the last layer norm and before the
    projection (open_clip's ``output_tokens``). CLIP's training compares only the pooled [CLS]
    embedding with text: nothing asks these tokens to describe their own patch."""
    visual = model.visual
    before, visual.output_tokens = visual.output_tokens, True
    try:
        _, tokens = visual(pixels)  # [B, N, width]
    finally:
        visual.output_tokens = before
    return tokens


def tiny_clip(seed: int = 0, embed_dim: int = 32, image_size: int = 32):
    """A small open_clip CLIP with seeded random weights, QuickGELU (as OpenAI's CLIP) and CLIP's
    own tokenizer settings.

    Returns (model, preprocess); ``open_clip.tokenize`` works with it (vocabulary 49408,
    context length 77), and ``preprocess`` is open_clip's eval transform at ``image_size``.
    """
    import open_clip
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=8, image_size=image_size)
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIP(embed_dim=embed_dim, vision_cfg=vision, text_cfg=text, quick_gelu=True)
    preprocess = open_clip.image_transform(image_size, is_train=False)
    return model.eval(), preprocess


def dino_pos_embed(pos_embed: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """Position embeddings for a ``grid_h`` x ``grid_w`` patch grid, by DINO's rule.

    Inputs: ``pos_embed`` [1, 1 + n * n, D] ([CLS] first, then a square n x n grid).
    Returns [1, 1 + grid_h * grid_w, D]: unchanged for a square grid of n x n; otherwise the grid
    is resized bicubically with scale factors (grid_h + 0.1) / n and (grid_w + 0.1) / n, which is
    what DINO's ``interpolate_pos_encoding`` does (the 0.1 keeps the output size from rounding
    down; the scale factors, not the output size, set where the samples fall).
    """
    num_patches, dim = pos_embed.shape[1] - 1, pos_embed.shape[2]
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f"position embeddings of {num_patches} patches do not form a square grid")
    if grid_h == grid_w == side:
        return pos_embed
    grid = pos_embed[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)  # [1, D, n, n]
    grid = F.interpolate(grid, scale_factor=((grid_h + 0.1) / side, (grid_w + 0.1) / side), mode="bicubic")
    if grid.shape[-2:] != (grid_h, grid_w):
        raise RuntimeError(f"interpolated grid {tuple(grid.shape[-2:])} instead of {(grid_h, grid_w)}")
    patches = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)  # [1, h*w, D]
    return torch.cat([pos_embed[:, :1], patches], dim=1)  # [1, 1 + h*w, D]


class DinoViT(VisionTransformer):
    """timm's VisionTransformer with the interface of DINO's torch.hub models.

    ``get_intermediate_layers(x, n)`` returns the last ``n`` blocks' outputs after the final
    norm, [B, 1 + N, D] with [CLS] first; ``get_last_selfattention(x)`` returns the last block's
    attention [B, heads, 1 + N, 1 + N]. Any input size that is a multiple of the patch size works:
    position embeddings are interpolated by DINO's own rule (``dino_pos_embed``), so the features
    equal those of DINO's torch.hub model with the same weights.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.cls_token is None or self.reg_token is not None or self.no_embed_class:
            raise ValueError("DinoViT has DINO's token layout: one [CLS] token with its own position "
                             "embedding and no register tokens")

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:  # dynamic image size: [B, h, w, D]
            batch, grid_h, grid_w, dim = x.shape
            x = x.reshape(batch, grid_h * grid_w, dim)  # [B, N, D]
        else:  # [B, N, D] at the fixed image size
            grid_h, grid_w = self.patch_embed.grid_size
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # [B, 1 + N, D]
        return self.pos_drop(x + dino_pos_embed(self.pos_embed, grid_h, grid_w))

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        x = self._pos_embed(self.patch_embed(x))  # [B, 1 + N, D]
        return self.norm_pre(self.patch_drop(x))

    def get_intermediate_layers(self, x: torch.Tensor, n: int = 1) -> list[torch.Tensor]:
        x = self._tokens(x)
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)  # [B, 1 + N, D]
            if i >= len(self.blocks) - n:
                outputs.append(self.norm(x))
        return outputs

    def get_last_selfattention(self, x: torch.Tensor) -> torch.Tensor:
        x = self._tokens(x)
        for block in self.blocks[:-1]:
            x = block(x)
        block = self.blocks[-1]
        attn = block.attn
        y = block.norm1(x)  # [B, T, D]
        qkv = attn.qkv(y).unflatten(-1, (3, attn.num_heads, attn.head_dim))  # [B, T, 3, heads, d]
        q, k, _ = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # [B, heads, T, d] each
        q, k = attn.q_norm(q), attn.k_norm(k)
        return (q * attn.scale @ k.transpose(-2, -1)).softmax(dim=-1)  # [B, heads, T, T]


def load_dino(device, tiny: bool | None = None, source: str = "timm"):
    """DINO ViT-S/8 on ``device`` in eval mode, with DINO's interface (see ``DinoViT``).

    - source="timm" (default): DINO's weights from the Hugging Face hub (``DINO_HF_REPO``, cached
      in ``cache/huggingface/hub``), built by timm as a ``DinoViT``.
    - source="hub": DINO's own torch.hub entry point (code and weights in ``cache/torch/hub``).
    ``tiny`` (default: the ``COURSE_OFFLINE`` switch) builds ``tiny_dino()`` instead.
    """
    if source not in DINO_SOURCES:
        raise ValueError(f"source must be one of {DINO_SOURCES}, got {source!r}")
    if offline() if tiny is None else tiny:
        model = tiny_dino()
    elif source == "timm":
        model = load_dino_timm()
    else:
        model = load_dino_hub()
    return model.to(device).eval()


def load_dino_timm() -> DinoViT:
    """DINO ViT-S/8 with DINO's weights through timm's loader (``timm/vit_small_patch8_224.dino``)."""
    from timm.models import build_model_with_cfg
    from timm.models.vision_transformer import checkpoint_filter_fn

    try:
        return build_model_with_cfg(
            DinoViT, DINO_TIMM_VARIANT, pretrained=True, pretrained_cfg=DINO_TIMM_TAG,
            pretrained_filter_fn=checkpoint_filter_fn, cache_dir=str(hf_hub_dir()),
            num_classes=0, dynamic_img_size=True, **DINO_VITS8)
    except OSError as error:  # no network and nothing cached
        raise OSError(f"Could not load DINO's weights from the Hugging Face hub ({DINO_HF_REPO}): {error}\n"
                      "Check the runtime's network connection and run the cell again, or use "
                      "load_dino(device, source='hub') (DINO's torch.hub entry point).") from error


def load_dino_hub():
    """DINO ViT-S/8 from DINO's torch.hub entry point (``DINO_HUB_REPO``, pinned to a commit).

    ``trust_repo=True, skip_validation=True``: torch.hub otherwise checks the branch through
    GitHub's rate-limited API before the first download, which fails on Colab's shared addresses
    (torch 2.14 then raises KeyError('Authorization') when no GITHUB_TOKEN is set).
    """
    torch.hub.set_dir(str(torch_hub_dir()))
    return torch.hub.load(DINO_HUB_REPO, DINO_HUB_ENTRY, trust_repo=True, skip_validation=True)


def tiny_dino(seed: int = 0, patch_size: int = 8, embed_dim: int = 384, depth: int = 2, num_heads: int = 6):
    """A small ViT with DINO's interface and seeded random weights (ViT-S width by default)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DinoViT(img_size=224, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                        num_heads=num_heads, num_classes=0, dynamic_img_size=True)
    return model.eval()
