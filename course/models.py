"""Model loading: the real pretrained models a student uses, and tiny local stand-ins.

The real loaders download once into the kit's ``cache/`` folder (on Drive in Colab). The tiny
builders make models with the same public classes and the same interfaces (an ``open_clip``
CLIP with its real tokenizer; a timm ViT with DINO's ``get_intermediate_layers`` and
``get_last_selfattention``) from a seed, with random weights: they exercise every code path
offline, but their outputs carry no meaning.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import VisionTransformer

from course.paths import hf_hub_dir, offline, torch_hub_dir

CLIP_ARCH, CLIP_PRETRAINED = "ViT-B-32", "openai"
DINO_REPO, DINO_ARCH = "facebookresearch/dino:main", "dino_vits8"


def load_clip(device, tiny: bool | None = None):
    """(clip_model, clip_preprocess) on ``device``, in eval mode.

    Real: OpenAI's CLIP ViT-B/32 through open_clip (weights cached in ``cache/huggingface/hub``).
    ``tiny`` (default: the ``COURSE_OFFLINE`` switch) builds ``tiny_clip()`` instead.
    """
    if offline() if tiny is None else tiny:
        model, preprocess = tiny_clip()
    else:
        import open_clip

        model, _, preprocess = open_clip.create_model_and_transforms(
            CLIP_ARCH, pretrained=CLIP_PRETRAINED, cache_dir=str(hf_hub_dir()))
    return model.to(device).eval(), preprocess


def tiny_clip(seed: int = 0, embed_dim: int = 32, image_size: int = 32):
    """A small open_clip CLIP with seeded random weights and CLIP's own tokenizer settings.

    Returns (model, preprocess); ``open_clip.tokenize`` works with it (vocabulary 49408,
    context length 77), and ``preprocess`` is open_clip's eval transform at ``image_size``.
    """
    import open_clip
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=8, image_size=image_size)
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIP(embed_dim=embed_dim, vision_cfg=vision, text_cfg=text)
    preprocess = open_clip.image_transform(image_size, is_train=False)
    return model.eval(), preprocess


class DinoViT(VisionTransformer):
    """timm's VisionTransformer with the interface of DINO's torch.hub models.

    ``get_intermediate_layers(x, n)`` returns the last ``n`` blocks' outputs after the final
    norm, [B, 1 + N, D] with [CLS] first; ``get_last_selfattention(x)`` returns the last block's
    attention [B, heads, 1 + N, 1 + N]. Any input size that is a multiple of the patch size works
    (position embeddings are interpolated, as in DINO).
    """

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # [B, h, w, D]
        x = self._pos_embed(x)  # [B, 1 + N, D]
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


def load_dino(device, tiny: bool | None = None):
    """DINO ViT-S/8 on ``device`` in eval mode (torch.hub; code and weights cached in ``cache/torch/hub``).

    ``tiny`` (default: the ``COURSE_OFFLINE`` switch) builds ``tiny_dino()`` instead.
    """
    if offline() if tiny is None else tiny:
        model = tiny_dino()
    else:
        torch.hub.set_dir(str(torch_hub_dir()))
        model = torch.hub.load(DINO_REPO, DINO_ARCH)
    return model.to(device).eval()


def tiny_dino(seed: int = 0, patch_size: int = 8, embed_dim: int = 384, depth: int = 2, num_heads: int = 6):
    """A small ViT with DINO's interface and seeded random weights (ViT-S width by default)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DinoViT(img_size=224, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                        num_heads=num_heads, num_classes=0, dynamic_img_size=True)
    return model.eval()
