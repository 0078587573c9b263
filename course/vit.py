"""What every Vision Transformer in the kit shares: the ImageNet normalisation its inputs get and
its patch size.

Graded modules and the kit's tools both import from here; nothing here imports a graded module.
"""

from __future__ import annotations

# ImageNet statistics: CLIP's ViT aside, every backbone here (DINO, DINOv3) was trained on images
# normalised with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def model_patch_size(model) -> int:
    """Patch size in pixels of a ViT (DINO's torch.hub models, timm, DINOv3's hub or transformers
    models) or of a transformers config: its ``patch_size``, else its ``patch_embed.patch_size``,
    else its config's, as an int or a square pair."""
    size = getattr(model, "patch_size", None)
    if size is None:
        size = model.patch_embed.patch_size if hasattr(model, "patch_embed") else model.config.patch_size
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise ValueError(f"non-square patches {size} are not supported")
        size = size[0]
    return int(size)
