"""The real-architecture tier: every loader a notebook calls, run end to end with the network off.

For each real model the notebooks load, the test builds the FULL-SIZE architecture with random
weights, saves it exactly where the real download would put it (the Hugging Face cache layout
under the kit's cache, the torch.hub checkpoint folder, the Drive weights file), and loads it
through the very call the notebook makes, with ``HF_HUB_OFFLINE=1`` and every socket refused.
Warnings from the model libraries fail these tests (``filterwarnings("error")``, and no WARNING
log record while loading).

What CI runs and what it cannot:

- CLIP (open_clip), DINO v1 through timm, DINOv3 through timm (the notebooks' default) and
  through transformers: the libraries' own loading code, end to end, in CI; and timm's DINOv3
  gives the same patch features as transformers' from the same weights (Meta's parameter layout
  in between, converted to timm's by timm's own converter).
- DINO v1 through torch.hub: torch.hub's own code runs in CI (download of the pinned archive,
  extraction, the checkpoint folder) on an archive served by a fake network; the repository in
  it is DINO's real code when ``DINO_REPO`` names a checkout of facebookresearch/dino, else a
  stand-in with the same entry point (CI cannot fetch GitHub code).
- DINOv3 from a clone: in CI, a stand-in clone with upstream's layout (a ``hubconf.py`` that
  imports evaluation code needing torchmetrics) shows that the kit never imports ``hubconf.py``;
  the real upstream code runs, and is compared with the transformers route on the same weights,
  only where ``DINOV3_REPO`` names a checkout of facebookresearch/dinov3 (at ``DINOV3_COMMIT``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from course import dinov3, models, paths
from course.paths import KIT_ROOT

pytestmark = pytest.mark.filterwarnings("error")

# Published sizes (millions of parameters) of the real models: open_clip's docs/model_profile.csv
# (ViT-B-32-quickgelu: 151.28), DINO's README (ViT-S/8: "21M", whole millions), Keras hub's DINOv3
# presets (ViT-S/16: 21.6; "21M" in the DINOv3 paper).
PUBLISHED_MILLIONS = {"clip": 151.28, "dinov3_vits16": 21.6}
DINO_README_MILLIONS = 21
# facebook/dinov3-vits16-pretrain-lvd1689m's architecture (transformers' conversion script for
# DINOv3: hidden 384, 12 layers, 6 heads, MLP 4x, 4 register tokens, no key bias, RoPE base 100,
# coordinates rescaled by 2, LayerNorm eps 1e-5).
DINOV3_VITS16_CONFIG = dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=12, num_attention_heads=6,
                            num_register_tokens=4, key_bias=False, rope_theta=100.0, pos_embed_rescale=2.0,
                            layer_norm_eps=1e-5, patch_size=16)
DAVIS_FRAME = (480, 854)  # DAVIS 480p frames, height x width


def millions(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn at random (zero-initialised biases and layer scales included), so that
    a weight that is not loaded cannot go unnoticed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    return model.eval()


# --------------------------------------------------------------------------------------------
# The offline world: a temporary kit cache, HF_HUB_OFFLINE=1, no sockets, no library warnings
# --------------------------------------------------------------------------------------------


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def offline_kit(tmp_path, monkeypatch, caplog):
    """The real paths (COURSE_OFFLINE=0) with the kit's cache in tmp, the HF hub offline, every
    socket connection refused; fails the test on any WARNING log record of a library."""
    import huggingface_hub.constants

    monkeypatch.setenv(paths.OFFLINE_ENV, "0")
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time

    def refuse(self, address, *args):
        raise NetworkUsed(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    hub_dir = torch.hub.get_dir()
    caplog.set_level(logging.WARNING)
    yield tmp_path / "cache"
    torch.hub.set_dir(hub_dir)
    warnings = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warnings, f"the model libraries warned: {warnings}"


def write_hf_snapshot(repo_id: str, files: dict[str, object] | None = None, fill=None) -> Path:
    """The Hugging Face cache layout a download leaves: models--org--name/{refs/main,snapshots/<commit>/}.

    ``files`` maps a file name to a callable writing that file at a path; ``fill(snapshot_dir)``
    may write the files instead (e.g. ``model.save_pretrained``).
    """
    repo = paths.hf_hub_dir() / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, write in (files or {}).items():
        write(snapshot / name)
    if fill is not None:
        fill(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def save_safetensors(model: torch.nn.Module):
    from safetensors.torch import save_file

    return lambda path: save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def notebook_source(name: str) -> str:
    notebook = nbformat.read(KIT_ROOT / "notebooks" / name, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells)


# --------------------------------------------------------------------------------------------
# CLIP: open_clip's ViT-B-32-quickgelu with OpenAI's weights
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_clip():
    """OpenAI's CLIP ViT-B/32 architecture (QuickGELU), full size, random weights."""
    import open_clip
    from open_clip.model import CLIP

    return randomized(CLIP(**open_clip.get_model_config(models.CLIP_ARCH)), seed=1)


def clip_download_location() -> tuple[str, str]:
    """(repo id, file name) where open_clip fetches the pretrained weights the kit asks for."""
    from open_clip.pretrained import HF_SAFE_WEIGHTS_NAME, get_pretrained_cfg

    repo_id = get_pretrained_cfg(models.CLIP_ARCH, models.CLIP_PRETRAINED)["hf_hub"].rstrip("/")
    return repo_id, HF_SAFE_WEIGHTS_NAME


def test_clip_loads_openai_weights_offline_with_quickgelu(offline_kit, real_clip):
    import open_clip
    from open_clip.transformer import QuickGELU

    repo_id, file_name = clip_download_location()
    assert repo_id == "timm/vit_base_patch32_clip_224.openai"
    write_hf_snapshot(repo_id, {file_name: save_safetensors(real_clip)})

    model, preprocess = models.load_clip("cpu")  # notebooks/clip.ipynb
    assert same_weights(model, real_clip)
    assert millions(model) == pytest.approx(PUBLISHED_MILLIONS["clip"], abs=0.01)
    # OpenAI trained these weights with QuickGELU: every MLP of both towers must use it.
    activations = [m.mlp.gelu for m in [*model.visual.transformer.resblocks, *model.transformer.resblocks]]
    assert len(activations) == 24 and all(isinstance(a, QuickGELU) for a in activations)

    from PIL import Image

    images = [np.full((480, 640, 3), 40 * i, np.uint8) for i in range(3)]  # COCO-sized images
    pixels = torch.stack([preprocess(Image.fromarray(image)) for image in images])  # [3, 3, 224, 224]
    assert pixels.shape == (3, 3, 224, 224)
    with torch.no_grad():
        text = model.encode_text(open_clip.tokenize(["a person", "an animal"]))  # [2, 512]
        image = model.encode_image(pixels)  # [3, 512]
    assert text.shape == (2, 512) and image.shape == (3, 512)


def test_clip_patch_tokens_are_the_image_towers_grid(real_clip):
    """notebooks/dino.ipynb's comparison before inline question 3: ViT-B/32 at 224 pixels gives a
    7x7 grid of width 768, and the helper leaves the model as it was."""
    pixels = torch.randn(2, 3, 224, 224)  # [B, 3, 224, 224]
    with torch.no_grad():
        tokens = models.clip_patch_tokens(real_clip, pixels)  # [2, 49, 768]
        pooled = real_clip.visual(pixels)  # [2, 512]
    assert tokens.shape == (2, 49, 768) and pooled.shape == (2, 512)
    assert real_clip.visual.output_tokens is False
    tiny, _ = models.tiny_clip()
    assert models.clip_patch_tokens(tiny, torch.randn(1, 3, 32, 32)).shape == (1, 16, 64)  # 32 / 8 = 4 per side


def test_plain_vit_b_32_would_warn_about_quickgelu(offline_kit, real_clip):
    """Why the kit asks for ViT-B-32-quickgelu: the plain config warns (an error here) and builds GELU."""
    import open_clip

    repo_id, file_name = clip_download_location()
    write_hf_snapshot(repo_id, {file_name: save_safetensors(real_clip)})
    with pytest.raises(UserWarning, match="QuickGELU mismatch"):
        open_clip.create_model_and_transforms("ViT-B-32", pretrained="openai", cache_dir=str(paths.hf_hub_dir()))


# --------------------------------------------------------------------------------------------
# DINO v1: timm's vit_small_patch8_224.dino (default) and DINO's torch.hub entry point
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_dino():
    """DINO ViT-S/8, full size, random weights (DINO's own parameter names)."""
    return randomized(models.DinoViT(img_size=224, num_classes=0, dynamic_img_size=True, **models.DINO_VITS8), seed=2)


def dino_download_location() -> tuple[str, str]:
    """(repo id, file name) where timm fetches DINO's weights."""
    from timm.models import get_pretrained_cfg
    from timm.models._hub import HF_SAFE_WEIGHTS_NAME

    return get_pretrained_cfg(f"{models.DINO_TIMM_VARIANT}.{models.DINO_TIMM_TAG}").hf_hub_id, HF_SAFE_WEIGHTS_NAME


def test_dino_loads_through_timm_offline(offline_kit, real_dino):
    repo_id, file_name = dino_download_location()
    assert repo_id == models.DINO_HF_REPO == "timm/vit_small_patch8_224.dino"
    write_hf_snapshot(repo_id, {file_name: save_safetensors(real_dino)})

    model = models.load_dino("cpu")  # notebooks/dino.ipynb
    assert isinstance(model, models.DinoViT) and same_weights(model, real_dino)
    assert int(millions(model)) == DINO_README_MILLIONS
    x = torch.randn(1, 3, 480, 480)  # the notebook's input: 480 x 480, 8x8 patches
    with torch.no_grad():
        tokens = model.get_intermediate_layers(x, n=1)[0]  # [1, 1 + 3600, 384]
        attention = model.get_last_selfattention(x)  # [1, 6, 3601, 3601]
    assert tokens.shape == (1, 3601, 384)
    assert attention.shape == (1, 6, 3601, 3601)
    torch.testing.assert_close(attention.sum(-1), torch.ones(1, 6, 3601))


def test_dino_attention_map_is_the_one_the_last_block_uses(real_dino):
    """The attention map, applied to the last block's values, gives that block's attention output."""
    model, x = real_dino, torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        attention = model.get_last_selfattention(x)  # [1, heads, T, T]
        hidden = model._tokens(x)
        for block in model.blocks[:-1]:
            hidden = block(hidden)  # [1, T, D]
        block = model.blocks[-1]
        normed = block.norm1(hidden)
        values = block.attn.qkv(normed).unflatten(-1, (3, block.attn.num_heads, -1))[:, :, 2]  # [1, T, heads, d]
        mixed = (attention @ values.transpose(1, 2)).transpose(1, 2).flatten(2)  # [1, T, D]
        torch.testing.assert_close(block.attn.proj(mixed), block.attn(normed), atol=1e-5, rtol=1e-4)


def cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Keys' cubic convolution weights of the 4 neighbours at offsets -1, 0, 1, 2 (PyTorch's a)."""
    def kernel(x):
        x = np.abs(x)
        return np.where(x <= 1, (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1,
                        np.where(x < 2, a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a, 0.0))
    return np.stack([kernel(t + 1), kernel(t), kernel(1 - t), kernel(2 - t)], axis=-1)


def resample_axis(values: np.ndarray, size: int, scale: float, axis: int) -> np.ndarray:
    """Bicubic resampling along one axis with the source position (i + 0.5) / scale - 0.5, borders clamped."""
    values = np.moveaxis(values, axis, 0)
    source = (np.arange(size) + 0.5) / scale - 0.5
    base = np.floor(source).astype(int)
    weights = cubic_weights(source - base)  # [size, 4]
    taps = np.clip(base[:, None] + np.arange(-1, 3), 0, len(values) - 1)  # [size, 4]
    out = np.einsum("sk,sk...->s...", weights, values[taps])
    return np.moveaxis(out, 0, axis)


def test_dino_position_embeddings_follow_dino_rule():
    """DINO resizes its 28 x 28 grid with scale factors (h + 0.1) / 28, not to the size h: an
    independent bicubic implementation of that rule must agree; the size rule must not."""
    n, dim, (h, w) = 28, 3, (60, 75)
    pos = torch.randn(1, 1 + n * n, dim, dtype=torch.float64)
    grid = pos[0, 1:].reshape(n, n, dim).numpy()
    by_rule = resample_axis(resample_axis(grid, h, (h + 0.1) / n, 0), w, (w + 0.1) / n, 1)  # [h, w, D]
    out = models.dino_pos_embed(pos, h, w)  # [1, 1 + h*w, D]
    torch.testing.assert_close(out[0, 0], pos[0, 0])
    np.testing.assert_allclose(out[0, 1:].reshape(h, w, dim).numpy(), by_rule, atol=1e-9)
    by_size = resample_axis(resample_axis(grid, h, h / n, 0), w, w / n, 1)
    assert np.abs(by_size - by_rule).max() > 1e-2
    assert models.dino_pos_embed(pos, n, n) is pos  # DINO's own grid is used as it is


# The stand-in for DINO's repository when no checkout is given: DINO's entry point, with the
# same parameter names, built from timm's VisionTransformer; its weights come from torch.hub's
# checkpoint folder exactly as upstream's hubconf.py gets them.
STAND_IN_DINO_HUBCONF = '''
import torch
from timm.models.vision_transformer import VisionTransformer

dependencies = ["torch"]


def dino_vits8(pretrained=True, **kwargs):
    model = VisionTransformer(patch_size=8, embed_dim=384, depth=12, num_heads=6, num_classes=0, **kwargs)
    if pretrained:
        state_dict = torch.hub.load_state_dict_from_url(
            url="https://dl.fbaipublicfiles.com/dino/dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth",
            map_location="cpu")
        model.load_state_dict(state_dict, strict=True)
    return model
'''


def github_archive(repo: Path | None, top: str) -> bytes:
    """A zip as GitHub's zipball serves it: one top folder holding the repository's files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{top}/", "")  # GitHub's first entry: the top folder (torch.hub reads its name)
        if repo is None:
            archive.writestr(f"{top}/hubconf.py", STAND_IN_DINO_HUBCONF)
        else:
            for path in sorted(repo.rglob("*.py")):
                archive.write(path, f"{top}/{path.relative_to(repo)}")
    return buffer.getvalue()


class FakeGitHub:
    """torch.hub's urlopen: the REST API answers 403 (rate limit, as on Colab's shared addresses),
    the zipball URL of the pinned commit serves ``archive``; anything else is a test failure."""

    def __init__(self, archive: bytes):
        self.archive, self.urls = archive, []

    def __call__(self, request, *args, **kwargs):
        from urllib.error import HTTPError

        url = getattr(request, "full_url", request)
        self.urls.append(url)
        if "api.github.com" in url:
            raise HTTPError(url, 403, "rate limit exceeded", {}, None)
        if url.endswith(f"/zipball/{models.DINO_HUB_COMMIT}"):
            return _Response(self.archive)
        raise NetworkUsed(f"torch.hub tried to fetch {url}")


class _Response(io.BytesIO):
    headers = {"Content-Length": None}

    def info(self):
        return self

    def get_all(self, name, default=None):
        return default

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_dino_through_torch_hub(monkeypatch, weights: torch.nn.Module, repo: Path | None) -> tuple:
    """Save ``weights`` in torch.hub's checkpoint folder, serve the pinned archive, and run the
    kit's hub route. Returns (model, the URLs torch.hub asked for)."""
    checkpoints = paths.torch_hub_dir() / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(weights.state_dict(), checkpoints / "dino_deitsmall8_pretrain.pth")
    github = FakeGitHub(github_archive(repo, f"facebookresearch-dino-{models.DINO_HUB_COMMIT[:7]}"))
    monkeypatch.setattr(torch.hub, "urlopen", github)
    monkeypatch.delitem(sys.modules, "hubconf", raising=False)
    model = models.load_dino("cpu", source="hub")
    sys.modules.pop("vision_transformer", None)
    return model, github.urls


def test_dino_torch_hub_route_skips_the_rate_limited_github_api(offline_kit, monkeypatch, real_dino):
    repo = Path(os.environ["DINO_REPO"]) if os.environ.get("DINO_REPO") else None
    model, urls = load_dino_through_torch_hub(monkeypatch, real_dino, repo)
    assert not [url for url in urls if "api.github.com" in url], urls  # the 403 would raise KeyError in torch 2.14
    assert urls == [f"https://github.com/facebookresearch/dino/zipball/{models.DINO_HUB_COMMIT}"]
    assert (paths.torch_hub_dir() / f"facebookresearch_dino_{models.DINO_HUB_COMMIT}" / "hubconf.py").is_file()
    assert same_weights(model, real_dino)  # from the checkpoint folder, not downloaded


@pytest.mark.skipif(not os.environ.get("DINO_REPO"), reason="DINO's own code is not installable from a registry: "
                    "set DINO_REPO to a checkout of facebookresearch/dino (CI cannot fetch it)")
def test_dino_routes_give_the_same_features_and_attention(offline_kit, monkeypatch, real_dino):
    repo_id, file_name = dino_download_location()
    write_hf_snapshot(repo_id, {file_name: save_safetensors(real_dino)})
    timm_model = models.load_dino("cpu")
    hub_model, _ = load_dino_through_torch_hub(monkeypatch, real_dino, Path(os.environ["DINO_REPO"]))
    assert type(hub_model).__module__ == "vision_transformer"  # DINO's own class
    for size in ((480, 480), (240, 320)):  # the notebook's size, and a non-square one
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            torch.testing.assert_close(timm_model.get_intermediate_layers(x, 1)[0],
                                       hub_model.get_intermediate_layers(x, 1)[0], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(timm_model.get_last_selfattention(x),
                                       hub_model.get_last_selfattention(x), atol=1e-6, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# DINOv3: timm (default), transformers, and upstream's code from a pinned clone
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_dinov3():
    """facebook/dinov3-vits16-pretrain-lvd1689m's architecture, full size, random weights."""
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    return randomized(DINOv3ViTModel(DINOv3ViTConfig(**DINOV3_VITS16_CONFIG)), seed=3)


def save_dinov3_transformers(model) -> Path:
    """config.json and model.safetensors where from_pretrained downloads them."""
    return write_hf_snapshot(dinov3.HF_MODEL_IDS["dinov3_vits16"], fill=model.save_pretrained)


@pytest.fixture(scope="module")
def real_dinov3_timm():
    """timm's vit_small_patch16_dinov3 (the architecture of timm/vit_small_patch16_dinov3.lvd1689m),
    full size, random weights."""
    import timm

    return randomized(timm.create_model(dinov3.TIMM_MODELS["dinov3_vits16"].split(".")[0]), seed=5)


def dinov3_timm_download_location() -> tuple[str, str]:
    """(repo id, file name) where timm fetches the weights of ``TIMM_MODELS["dinov3_vits16"]``."""
    from timm.models import get_pretrained_cfg
    from timm.models._hub import HF_SAFE_WEIGHTS_NAME

    cfg = get_pretrained_cfg(dinov3.TIMM_MODELS["dinov3_vits16"])
    repo_id = cfg.hf_hub_id if cfg.hf_hub_id != "timm/" else f"timm/{dinov3.TIMM_MODELS['dinov3_vits16']}"
    return repo_id, HF_SAFE_WEIGHTS_NAME


def save_dinov3_timm(model) -> Path:
    """model.safetensors where timm's pretrained loader downloads it."""
    repo_id, file_name = dinov3_timm_download_location()
    return write_hf_snapshot(repo_id, {file_name: save_safetensors(model)})


def test_dinov3_loads_through_timm_offline(offline_kit, real_dinov3_timm):
    """The notebooks' default route: timm's ungated copy of the weights, from the kit's HF cache."""
    from course.tracking import preprocess_frame

    repo_id, _ = dinov3_timm_download_location()
    assert repo_id == "timm/vit_small_patch16_dinov3.lvd1689m"
    snapshot = save_dinov3_timm(real_dinov3_timm)
    assert snapshot.is_relative_to(offline_kit / "huggingface" / "hub")
    assert dinov3.DEFAULT_SOURCE == "timm"
    model = dinov3.load_dinov3("dinov3_vits16", "cpu", source="timm")  # both DINOv3 notebooks' SOURCE default
    assert type(model).__name__ == "Eva" and same_weights(model, real_dinov3_timm) and not model.training
    assert millions(model) == pytest.approx(PUBLISHED_MILLIONS["dinov3_vits16"], abs=0.05)
    assert model.num_prefix_tokens == 1 + 4 and dinov3.model_patch_size(model) == 16  # [CLS] + 4 registers
    frame = np.random.default_rng(0).integers(0, 256, (*DAVIS_FRAME, 3), dtype=np.uint8)
    image = preprocess_frame(frame, 960, dinov3.model_patch_size(model))  # the notebook's SHORT_SIDE
    features = dinov3.patch_features(model, image)  # [h, w, D]
    assert features.shape == (60, 107, 384)
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(60, 107))
    small = preprocess_frame(frame, 240, 16)  # [3, 240, 432]
    with torch.no_grad():  # timm's own split of the last block's normed tokens into prefix and patch grid
        grid = model.forward_intermediates(small[None], indices=1, norm=True, intermediates_only=True)[0]  # [1, D, h, w]
    torch.testing.assert_close(dinov3.patch_features(model, small), torch.nn.functional.normalize(grid[0].movedim(0, -1), dim=-1))


def test_the_timm_route_needs_no_token_and_says_so_without_network(offline_kit):
    """Nothing cached and no network: the error names the timm repository and that it is not gated."""
    with pytest.raises(OSError, match=r"(?s)timm/vit_small_patch16_dinov3\.lvd1689m.*not gated"):
        dinov3.load_dinov3("dinov3_vits16", "cpu", source="timm")


@pytest.fixture
def hub_answers_403(offline_kit, monkeypatch):
    """The Hugging Face hub online, but answering every request as it answers a gated model to an
    account without access: 403 with X-Error-Code GatedRepo (through huggingface_hub's own HTTP
    client, on a mock transport: still no socket)."""
    import huggingface_hub
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    http = sys.modules[type(huggingface_hub.get_session()).__module__.split(".")[0]]  # httpx (or its successor)

    def gated(request):
        return http.Response(403, headers={"X-Error-Code": "GatedRepo", "X-Error-Message": "Access restricted"},
                             request=request)

    huggingface_hub.set_client_factory(lambda: http.Client(transport=http.MockTransport(gated)))
    yield
    from huggingface_hub.utils._http import default_client_factory

    huggingface_hub.set_client_factory(default_client_factory)


def test_the_gated_transformers_route_offers_timm(hub_answers_403):
    with pytest.raises(OSError) as raised:
        dinov3.load_dinov3("dinov3_vits16", "cpu", source="transformers")
    message = str(raised.value)
    assert "refused 'facebook/dinov3-vits16-pretrain-lvd1689m'" in message and "gated" in message
    assert "source='timm'" in message and "not gated" in message


def test_the_hub_route_errors_offer_timm(offline_kit):
    with pytest.raises(FileNotFoundError, match=r"(?s)No clone of facebookresearch/dinov3.*prepare_hub_route.*source='timm'"):
        dinov3.load_dinov3("dinov3_vits16", "cpu", source="hub")
    write_stand_in_clone(dinov3.dinov3_repo_dir())
    with pytest.raises(FileNotFoundError, match=r"(?s)No DINOv3 weights file.*source='timm'.*not gated"):
        dinov3.load_dinov3("dinov3_vits16", "cpu", source="hub")


def transformers_to_hub(state: dict) -> dict:
    """transformers' DINOv3ViTModel names -> upstream's (Meta's checkpoint layout), the inverse of
    ``hub_to_transformers``: q, k, v stacked into qkv, the absent key bias as zeros."""
    renamed = {theirs: ours for ours, theirs in HUB_TO_TRANSFORMERS.items()}
    in_block = {theirs: ours for ours, theirs in HUB_TO_TRANSFORMERS_IN_BLOCK.items()}
    out = {"mask_token": state["embeddings.mask_token"].reshape(1, -1)}
    for key, value in state.items():
        layer = re.fullmatch(r"model\.layer\.(\d+)\.(.+)", key)
        if key in renamed:
            out[renamed[key]] = value
        elif layer and layer.group(2).startswith("attention.q_proj."):
            index, kind = layer.group(1), layer.group(2).rsplit(".", 1)[1]
            prefix = f"model.layer.{index}.attention"
            key_part = state[f"{prefix}.k_proj.weight"] if kind == "weight" else torch.zeros_like(value)
            out[f"blocks.{index}.attn.qkv.{kind}"] = torch.cat([value, key_part, state[f"{prefix}.v_proj.{kind}"]])
        elif layer and not layer.group(2).startswith(("attention.k_proj.", "attention.v_proj.")):
            rest = layer.group(2)
            old = next(o for o in in_block if rest.startswith(o))
            out[f"blocks.{layer.group(1)}.{in_block[old]}{rest[len(old):]}"] = value
    return out


def test_transformers_to_hub_inverts_hub_to_transformers(real_dinov3):
    state = real_dinov3.state_dict()
    back = hub_to_transformers(transformers_to_hub(state))
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)


def test_timm_and_transformers_give_the_same_dinov3_features(offline_kit, real_dinov3, capsys):
    """The same random weights through both notebooks' loaders: transformers' DINOv3ViTModel, and
    timm's Eva with the weights converted from Meta's layout by timm's own converter (the one that
    made the timm/ copies). Meta's published ViTs have all-zero query/value biases (dinov3 issue
    #195), which is why timm's vit_small_patch16_dinov3 has none: they are zero here too."""
    import timm
    from timm.models.eva import checkpoint_filter_fn

    from course.tracking import preprocess_frame

    weights = {k: v.clone() for k, v in real_dinov3.state_dict().items()}
    for key in [k for k in weights if re.search(r"attention\.[qv]_proj\.bias$", k)]:
        weights[key].zero_()
    meta_layout = transformers_to_hub(weights)
    converted = timm.create_model(dinov3.TIMM_MODELS["dinov3_vits16"].split(".")[0])
    converted.load_state_dict(checkpoint_filter_fn(meta_layout, converted), strict=True)
    save_dinov3_timm(converted)
    hf_weights = type(real_dinov3)(real_dinov3.config)
    hf_weights.load_state_dict(weights, strict=True)
    save_dinov3_transformers(hf_weights)
    capsys.readouterr()  # timm's converter prints that this variant has no q_bias to fill

    timm_model = dinov3.load_dinov3("dinov3_vits16", "cpu", source="timm")
    hf_model = dinov3.load_dinov3("dinov3_vits16", "cpu", source="transformers")
    assert type(timm_model).__name__ == "Eva" and type(hf_model).__name__ == "DINOv3ViTModel"
    frame = np.random.default_rng(2).integers(0, 256, (*DAVIS_FRAME, 3), dtype=np.uint8)
    image = preprocess_frame(frame, 480, 16)  # [3, 480, 864]: non-square, RoPE on a 30 x 54 grid
    timm_features, hf_features = dinov3.patch_features(timm_model, image), dinov3.patch_features(hf_model, image)
    assert timm_features.shape == hf_features.shape == (30, 54, 384)
    torch.testing.assert_close(timm_features, hf_features, atol=1e-5, rtol=1e-4)


def test_the_tracker_and_the_proposals_run_on_timm_dinov3(real_dinov3_timm):
    """What the tracking and automatic-mask notebooks call, on timm's model (full size)."""
    from course import automask
    from course.synthetic import davis_like_clip
    from course.tracking import TrackingConfig, track

    clip, masks = davis_like_clip(num_frames=3, height=64, width=96, seed=1)
    steps = list(track(real_dinov3_timm, clip, masks[0], TrackingConfig(short_side=64, neighborhood_size=3),
                       progress=False))
    assert [step.mask.shape for step in steps] == [masks[0].shape] * 3
    proposals = automask.propose_boxes(real_dinov3_timm, clip[0], automask.ProposalConfig(short_side=64, num_clusters=3))
    assert proposals.features.shape[:2] == (4, 6) and len(proposals.boxes) >= 1


def test_dinov3_loads_through_transformers_offline(offline_kit, real_dinov3):
    from course.tracking import preprocess_frame

    save_dinov3_transformers(real_dinov3)
    model = dinov3.load_dinov3("dinov3_vits16", "cpu", source="transformers")  # the notebooks' SOURCE = "transformers"
    assert type(model).__name__ == "DINOv3ViTModel" and same_weights(model, real_dinov3)
    assert millions(model) == pytest.approx(PUBLISHED_MILLIONS["dinov3_vits16"], abs=0.05)
    frame = np.random.default_rng(0).integers(0, 256, (*DAVIS_FRAME, 3), dtype=np.uint8)
    image = preprocess_frame(frame, 960, dinov3.model_patch_size(model))  # the notebook's SHORT_SIDE
    assert image.shape == (3, 960, 1712)
    features = dinov3.patch_features(model, image)  # [h, w, D]
    assert features.shape == (60, 107, 384)
    torch.testing.assert_close(features.norm(dim=-1), torch.ones(60, 107))


STAND_IN_HUBCONF = '''
from dinov3.hub.backbones import dinov3_vits16  # noqa: F401
from dinov3.hub.segmentors import dinov3_vit7b16_ms  # noqa: F401  (upstream: evaluation code)
dependencies = ["torch", "numpy"]
'''
STAND_IN_SEGMENTORS = '''
import torchmetrics  # noqa: F401  upstream's dinov3/eval/utils.py needs it (and lightning_utilities)
import lightning_utilities  # noqa: F401


def dinov3_vit7b16_ms(**kwargs):
    raise NotImplementedError
'''
STAND_IN_BACKBONES = '''
import torch

CALLS = []


class Backbone(torch.nn.Module):
    """Upstream's interface: patch_size and get_intermediate_layers(x, n, reshape, norm)."""

    patch_size = 16

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Conv2d(3, 8, 16, 16)

    def get_intermediate_layers(self, x, n=1, reshape=False, norm=True):
        return [self.proj(x)]  # [B, 8, h, w]


def dinov3_vits16(*, pretrained=True, weights="LVD1689M", **kwargs):
    CALLS.append(dict(pretrained=pretrained, **kwargs))
    if pretrained:
        raise RuntimeError("the kit must load the weights file itself (pretrained=False)")
    return Backbone()
'''


@pytest.fixture
def fresh_dinov3_import():
    """Forget any imported ``dinov3`` package and its sys.path entry after the test."""
    before = list(sys.path)
    yield
    for name in [m for m in sys.modules if m == "dinov3" or m.startswith("dinov3.")]:
        del sys.modules[name]
    sys.path[:] = before


def write_stand_in_clone(repo: Path) -> None:
    files = {"hubconf.py": STAND_IN_HUBCONF, "dinov3/__init__.py": "", "dinov3/hub/__init__.py": "",
             "dinov3/hub/backbones.py": STAND_IN_BACKBONES, "dinov3/hub/segmentors.py": STAND_IN_SEGMENTORS}
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(textwrap.dedent(text))


def test_dinov3_hub_route_never_imports_hubconf(offline_kit, fresh_dinov3_import):
    """Upstream's hubconf.py imports its evaluation code, which needs torchmetrics (absent in
    Colab): the kit builds the backbone from dinov3.hub.backbones and loads the Drive file."""
    assert importlib.util.find_spec("torchmetrics") is None  # as in Colab
    repo = dinov3.dinov3_repo_dir()
    write_stand_in_clone(repo)
    weights_file = dinov3.hub_weights_path("dinov3_vits16")
    assert weights_file == dinov3.dinov3_folder() / "dinov3_vits16_pretrain_lvd1689m-08c60483.pth"
    saved = {"proj.weight": torch.randn(8, 3, 16, 16), "proj.bias": torch.randn(8)}
    torch.save(saved, weights_file)

    model = dinov3.load_dinov3("dinov3_vits16", "cpu", source="hub")  # the notebook's SOURCE = "hub"
    assert sys.modules["dinov3.hub.backbones"].CALLS == [{"pretrained": False}]
    assert "dinov3.hub.segmentors" not in sys.modules and "hubconf" not in sys.modules
    torch.testing.assert_close(model.proj.weight, saved["proj.weight"])
    features = dinov3.patch_features(model, torch.randn(3, 32, 48))  # [2, 3, 8]
    assert features.shape == (2, 3, 8)


def test_dinov3_hub_route_refuses_another_imported_dinov3(offline_kit, fresh_dinov3_import, tmp_path):
    other = tmp_path / "elsewhere"
    write_stand_in_clone(other)
    sys.path.insert(0, str(other))
    importlib.import_module("dinov3")  # a second copy, e.g. from a pip install

    write_stand_in_clone(dinov3.dinov3_repo_dir())
    torch.save({}, dinov3.hub_weights_path("dinov3_vits16"))
    with pytest.raises(RuntimeError, match="Restart the runtime"):
        dinov3.load_dinov3("dinov3_vits16", "cpu", source="hub")


S3_ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                    b'<Message>Request has expired</Message><RequestId>X</RequestId></Error>')


def test_an_expired_weights_link_says_what_to_do(offline_kit, monkeypatch):
    """Meta's e-mailed links answer 403 once they expire (about a week)."""
    import urllib.error

    def expired(request, *args, **kwargs):
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, io.BytesIO(S3_ACCESS_DENIED))

    monkeypatch.setattr(torch.hub, "urlopen", expired)
    with pytest.raises(PermissionError, match=r"(?s)403.*expire after about a week.*new link.*source='timm'"):
        dinov3.download_weights("https://dinov3.llamameta.net/dinov3_vits16.pth?Policy=x", "dinov3_vits16")
    assert not dinov3.hub_weights_path("dinov3_vits16").exists()


def test_a_downloaded_page_is_not_kept_as_the_weights_file(offline_kit, tmp_path):
    """A link that answers an HTML/XML page instead of the file: caught before torch.load, removed."""
    page = tmp_path / "page.xml"
    page.write_bytes(S3_ACCESS_DENIED)
    with pytest.raises(ValueError, match=r"(?s)HTML/XML page.*AccessDenied.*Request has expired.*removed.*source='timm'"):
        dinov3.download_weights(page.as_uri(), "dinov3_vits16")
    assert not dinov3.hub_weights_path("dinov3_vits16").exists()


def test_weights_download_once_and_replace_a_saved_page(offline_kit, tmp_path):
    good = tmp_path / "dinov3_vits16_pretrain_lvd1689m-08c60483.pth"
    torch.save({"proj.weight": torch.ones(2)}, good)
    target = dinov3.hub_weights_path("dinov3_vits16")
    target.write_bytes(b"<!DOCTYPE html><html><title>Sign in</title></html>")  # a browser's "save link as"
    assert dinov3.download_weights(good.as_uri(), "dinov3_vits16") == target
    assert target.read_bytes() == good.read_bytes()
    good.unlink()  # an existing checkpoint is kept: no second download
    assert dinov3.download_weights(good.as_uri(), "dinov3_vits16") == target


@pytest.mark.parametrize("content, kind", [(S3_ACCESS_DENIED, "HTML/XML page"), (b"", "empty file"),
                                           (b"GIF89a", "not a PyTorch checkpoint")])
def test_the_hub_route_refuses_a_weights_file_that_is_no_checkpoint(offline_kit, fresh_dinov3_import, content, kind):
    write_stand_in_clone(dinov3.dinov3_repo_dir())
    weights = dinov3.hub_weights_path("dinov3_vits16")
    weights.write_bytes(content)
    with pytest.raises(ValueError, match=kind):
        dinov3.load_dinov3("dinov3_vits16", "cpu", source="hub")
    assert not weights.exists()


def test_checkpoints_in_both_torch_formats_are_recognised(tmp_path):
    for legacy in (False, True):
        path = tmp_path / f"legacy{legacy}.pth"
        torch.save({"w": torch.ones(1)}, path, _use_new_zipfile_serialization=not legacy)
        assert dinov3.weights_file_problem(path) is None


# Upstream DINOv3 parameter names -> transformers' DINOv3ViTModel names: outside the blocks, and
# the parts of a name inside block i (blocks.i. upstream, model.layer.i. in transformers).
HUB_TO_TRANSFORMERS = {"cls_token": "embeddings.cls_token", "storage_tokens": "embeddings.register_tokens",
                       "patch_embed.proj.weight": "embeddings.patch_embeddings.weight",
                       "patch_embed.proj.bias": "embeddings.patch_embeddings.bias", "norm.weight": "norm.weight",
                       "norm.bias": "norm.bias"}
HUB_TO_TRANSFORMERS_IN_BLOCK = {"attn.proj.": "attention.o_proj.", "ls1.gamma": "layer_scale1.lambda1",
                                "ls2.gamma": "layer_scale2.lambda1", "mlp.fc1.": "mlp.up_proj.",
                                "mlp.fc2.": "mlp.down_proj.", "norm1.": "norm1.", "norm2.": "norm2."}


def hub_to_transformers(state: dict) -> dict:
    """Upstream DINOv3 parameter names -> transformers' DINOv3ViTModel names. The key bias is
    dropped: upstream zeroes it with a mask (mask_k_bias), transformers has none."""
    renamed, in_block = HUB_TO_TRANSFORMERS, HUB_TO_TRANSFORMERS_IN_BLOCK
    out = {"embeddings.mask_token": state["mask_token"].reshape(1, 1, -1)}
    for key, value in state.items():
        block = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
        if key in renamed:
            out[renamed[key]] = value
        elif block and block.group(2) in ("attn.qkv.weight", "attn.qkv.bias"):
            prefix, kind = f"model.layer.{block.group(1)}.attention", block.group(2).rsplit(".", 1)[1]
            query, key_part, value_part = value.chunk(3, dim=0)  # [D, ...] each
            out[f"{prefix}.q_proj.{kind}"], out[f"{prefix}.v_proj.{kind}"] = query, value_part
            if kind == "weight":
                out[f"{prefix}.k_proj.weight"] = key_part
        elif block:
            rest = block.group(2)
            for old, new in in_block.items():
                if rest.startswith(old):
                    out[f"model.layer.{block.group(1)}.{new}{rest[len(old):]}"] = value
    return out


@pytest.mark.skipif(not os.environ.get("DINOV3_REPO"), reason="upstream DINOv3 code is not installable from a "
                    "registry and CI cannot clone it: set DINOV3_REPO to a checkout of facebookresearch/dinov3 "
                    "at course.dinov3.DINOV3_COMMIT to run the real hub route")
def test_dinov3_routes_give_the_same_features(offline_kit, fresh_dinov3_import):
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    from course.tracking import preprocess_frame

    shutil.copytree(os.environ["DINOV3_REPO"], dinov3.dinov3_repo_dir(), ignore=shutil.ignore_patterns(".git"))
    backbones = dinov3.import_backbones(dinov3.dinov3_repo_dir())
    upstream = backbones.dinov3_vits16(pretrained=False)
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():  # random weights, the masked key bias kept at zero as upstream's init leaves it
        for name, parameter in upstream.named_parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
        for block in upstream.blocks:
            block.attn.qkv.bias.mul_(block.attn.qkv.bias_mask)
    assert millions(upstream) == pytest.approx(PUBLISHED_MILLIONS["dinov3_vits16"], abs=0.05)
    torch.save(upstream.state_dict(), dinov3.hub_weights_path("dinov3_vits16"))  # the Drive weights file
    converted = DINOv3ViTModel(DINOv3ViTConfig(**DINOV3_VITS16_CONFIG))
    converted.load_state_dict(hub_to_transformers(upstream.state_dict()), strict=True)
    save_dinov3_transformers(converted)

    hub_model = dinov3.load_dinov3("dinov3_vits16", "cpu", source="hub")
    hf_model = dinov3.load_dinov3("dinov3_vits16", "cpu", source="transformers")
    assert "dinov3.hub.segmentors" not in sys.modules
    frame = np.random.default_rng(1).integers(0, 256, (*DAVIS_FRAME, 3), dtype=np.uint8)
    image = preprocess_frame(frame, 480, 16)  # [3, 480, 864]
    hub_features, hf_features = dinov3.patch_features(hub_model, image), dinov3.patch_features(hf_model, image)
    assert hub_features.shape == hf_features.shape == (30, 54, 384)
    torch.testing.assert_close(hub_features, hf_features, atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# What the notebooks say about the models' sizes
# --------------------------------------------------------------------------------------------


def test_parameter_counts_the_notebooks_state(real_dino, real_dinov3):
    dino_text = re.search(r"about (\d+) M parameters", notebook_source("dino.ipynb"))
    dinov3_text = re.search(r"`dinov3_vits16` \((\d+) M parameters\)", notebook_source("dinov3_tracking.ipynb"))
    assert dino_text and dinov3_text
    assert abs(float(dino_text.group(1)) - millions(real_dino)) < 0.5
    assert abs(float(dinov3_text.group(1)) - millions(real_dinov3)) < 1  # the paper rounds 21.6 down to 21


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}).stdout.strip()


def stand_in_origin(tmp_path: Path) -> tuple[Path, str]:
    """(a git repository holding a stand-in DINOv3 clone, its one commit)."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git("init", "-q", cwd=origin)
    write_stand_in_clone(origin)
    git("add", "-A", cwd=origin)
    git("commit", "-qm", "pinned", cwd=origin)
    return origin, git("rev-parse", "HEAD", cwd=origin)


def test_the_dinov3_clone_is_pinned_to_a_commit(tmp_path, monkeypatch, capsys):
    """clone_dinov3 clones once and checks out the pinned commit, also in an older clone."""
    origin, pinned = stand_in_origin(tmp_path)
    (origin / "NEWER").write_text("main moved on")
    git("add", "-A", cwd=origin)
    git("commit", "-qm", "newer", cwd=origin)
    monkeypatch.setattr(dinov3, "DINOV3_GITHUB", str(origin))

    repo = dinov3.clone_dinov3(tmp_path / "cache" / "dinov3", commit=pinned)
    assert git("rev-parse", "HEAD", cwd=repo) == pinned and not (repo / "NEWER").exists()
    assert "cloning" in capsys.readouterr().out
    git("checkout", "-q", "master" if "master" in git("branch", cwd=repo) else "main", cwd=repo)  # a clone of main
    dinov3.clone_dinov3(repo, commit=pinned)
    assert git("rev-parse", "HEAD", cwd=repo) == pinned
    with pytest.raises(RuntimeError, match="git checkout .* failed"):
        dinov3.clone_dinov3(repo, commit="0" * 40)


def test_both_dinov3_notebooks_default_to_timm_and_prepare_the_hub_route():
    """The automatic-mask notebook once defaulted to "hub" without cloning or downloading."""
    from tests.test_calibration import assigned

    tracking, automask = assigned("dinov3_tracking.ipynb"), assigned("dinov3_sam2_automask.ipynb")
    assert tracking["SOURCE"] == automask["DINOV3_SOURCE"] == dinov3.DEFAULT_SOURCE == "timm"
    assert "prepare_hub_route(MODEL_NAME, WEIGHTS_URL)" in notebook_source("dinov3_tracking.ipynb")
    assert "prepare_hub_route(DINOV3_NAME, DINOV3_WEIGHTS_URL)" in notebook_source("dinov3_sam2_automask.ipynb")


def test_prepare_hub_route_clones_downloads_and_loads(offline_kit, fresh_dinov3_import, tmp_path, monkeypatch, capsys):
    """What the notebooks run for SOURCE = "hub": the pinned clone and the weights file, then the model."""
    origin, pinned = stand_in_origin(tmp_path)
    monkeypatch.setattr(dinov3, "DINOV3_GITHUB", str(origin))
    monkeypatch.setattr(dinov3, "DINOV3_COMMIT", pinned)
    emailed = tmp_path / "dinov3_vits16_pretrain_lvd1689m-08c60483.pth"
    saved = {"proj.weight": torch.randn(8, 3, 16, 16), "proj.bias": torch.randn(8)}
    torch.save(saved, emailed)

    repo_dir, weights = dinov3.prepare_hub_route("dinov3_vits16", emailed.as_uri())
    assert (repo_dir, weights) == (dinov3.dinov3_repo_dir(), dinov3.hub_weights_path("dinov3_vits16"))
    assert weights.is_file() and "cloning" in capsys.readouterr().out
    model = dinov3.load_dinov3("dinov3_vits16", "cpu", source="hub")
    torch.testing.assert_close(model.proj.weight, saved["proj.weight"])


# --------------------------------------------------------------------------------------------
# SAM2 through transformers: facebook/sam2.1-hiera-tiny
# --------------------------------------------------------------------------------------------


def test_sam2_loads_through_transformers_offline(offline_kit):
    """The automatic-mask notebook's ``load_sam2()``: SAM2.1 hiera-tiny at full size (its published
    sizes, ``course.sam2.HIERA_TINY``), random weights, saved with its processor where
    ``from_pretrained`` downloads them; one box gives one mask in the image's own pixels."""
    from course.sam2 import DEFAULT_SAM2, HIERA_TINY, load_sam2, random_sam2, sam2_parameter_counts, segment_boxes

    model, processor = random_sam2(HIERA_TINY, seed=4)
    randomized(model, seed=4)

    def fill(snapshot):
        model.save_pretrained(snapshot)
        processor.save_pretrained(snapshot)

    write_hf_snapshot(DEFAULT_SAM2, fill=fill)
    loaded, loaded_processor = load_sam2(device="cpu")  # notebooks/dinov3_sam2_automask.ipynb
    assert type(loaded).__name__ == "Sam2Model" and same_weights(loaded, model)
    image_model, _ = sam2_parameter_counts(HIERA_TINY)
    assert sum(p.numel() for p in loaded.parameters()) == image_model
    frame = np.random.default_rng(0).integers(0, 256, (*DAVIS_FRAME, 3), dtype=np.uint8)
    masks, scores = segment_boxes(loaded, loaded_processor, frame, np.array([[100, 50, 400, 300]]))
    assert masks.shape == (1, *DAVIS_FRAME) and masks.dtype == bool and scores.shape == (1,)
