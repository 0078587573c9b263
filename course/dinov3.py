"""DINOv3 backbones as a student loads them, a tiny offline stand-in, and dense patch features.

Two real loading paths (both need the gated weights, see ``load_dinov3``):

- transformers (the default): ``DINOv3ViTModel.from_pretrained("facebook/dinov3-vits16-pretrain-lvd1689m")``
  after accepting the licence on the Hugging Face hub; cached in ``cache/huggingface/hub``.
- "hub": upstream's own code from a clone of ``facebookresearch/dinov3`` pinned to
  ``DINOV3_COMMIT``, plus a weights file kept in the kit's ``cache/dinov3`` folder (on Drive in
  Colab, so a restarted runtime re-uses both; the emailed download links expire after about a
  week, which is why the file is cached). The backbones are built from ``dinov3.hub.backbones``
  directly: upstream's ``hubconf.py`` also imports its evaluation code, which needs packages
  Colab lacks (torchmetrics; dinov3 issue #318), so ``torch.hub.load`` on the clone fails there.

``tiny_dinov3()`` builds a small DINOv3 through transformers' own classes (RoPE, register tokens,
final norm) with seeded random weights, so every code path runs offline; its features carry no
meaning. ``patch_features`` returns the same [h, w, D] features for hub and transformers models.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from course.vit import model_patch_size as vit_patch_size
from course.paths import cache_dir, hf_hub_dir, offline

DINOV3_GITHUB = "https://github.com/facebookresearch/dinov3.git"
# The commit of facebookresearch/dinov3 the kit was checked against ("Remove unused LinearW24",
# 2026-07-15): its dinov3/hub/backbones.py needs only torch and numpy.
DINOV3_COMMIT = "6876159a11b4df116f30f667f8c9888617df0751"
DINOV3_SOURCES = ("transformers", "hub")
DINOV3_DOWNLOADS = "https://ai.meta.com/resources/models-and-libraries/dinov3-downloads/"

# Weights files as Meta distributes them (hashes known for these three).
WEIGHTS_FILES = {
    "dinov3_vits16": "dinov3_vits16_pretrain_lvd1689m-08c60483.pth",
    "dinov3_vitb16": "dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth",
    "dinov3_vitl16": "dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth",
}
# Hugging Face hub ids of the same backbones (gated: accept the licence on the model page).
HF_MODEL_IDS = {
    "dinov3_vits16": "facebook/dinov3-vits16-pretrain-lvd1689m",
    "dinov3_vits16plus": "facebook/dinov3-vits16plus-pretrain-lvd1689m",
    "dinov3_vitb16": "facebook/dinov3-vitb16-pretrain-lvd1689m",
    "dinov3_vitl16": "facebook/dinov3-vitl16-pretrain-lvd1689m",
    "dinov3_vith16plus": "facebook/dinov3-vith16plus-pretrain-lvd1689m",
    "dinov3_vit7b16": "facebook/dinov3-vit7b16-pretrain-lvd1689m",
}
# torch.hub entry points of facebookresearch/dinov3: the same ViTs (ConvNeXts give no patch tokens).
HUB_MODELS = tuple(HF_MODEL_IDS)


def dinov3_folder() -> Path:
    """``cache/dinov3`` in the kit's folder: the repository clone and the weights files live here."""
    return cache_dir("dinov3")


def dinov3_repo_dir() -> Path:
    """Where the clone of facebookresearch/dinov3 lives: ``cache/dinov3/dinov3``."""
    return dinov3_folder() / "dinov3"


def _git(*args: str) -> subprocess.CompletedProcess:
    """git with its output printed line by line (``course.colab.stream_command``)."""
    from course.colab import stream_command

    return stream_command(["git", *args])


def clone_dinov3(repo_dir: Path | None = None, commit: str = DINOV3_COMMIT) -> Path:
    """Clone facebookresearch/dinov3 into ``repo_dir`` (default ``dinov3_repo_dir()``) once, and
    check out ``commit``; an existing clone is moved to ``commit`` (fetched when it lacks it).
    git's output is printed as it comes. Returns ``repo_dir``."""
    repo_dir = Path(repo_dir) if repo_dir is not None else dinov3_repo_dir()
    if not (repo_dir / ".git").exists():
        if repo_dir.exists() and any(repo_dir.iterdir()):
            raise FileExistsError(f"{repo_dir} exists but is not a git clone; move it away and run this again")
        print(f"cloning {DINOV3_GITHUB} into {repo_dir} ...", flush=True)
        _check_git(_git("clone", DINOV3_GITHUB, str(repo_dir)), "clone")
    head = subprocess.run(["git", "-C", str(repo_dir), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.stdout.strip() != commit:
        if _git("-C", str(repo_dir), "checkout", "--quiet", commit).returncode != 0:  # not in this clone yet
            _check_git(_git("-C", str(repo_dir), "fetch", "origin"), "fetch")
            _check_git(_git("-C", str(repo_dir), "checkout", "--quiet", commit), f"checkout {commit}")
    return repo_dir


def _check_git(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        from course.colab import failure_message

        raise RuntimeError(f"git {what} failed (exit status {result.returncode}); it said:\n{failure_message(result)}\n"
                           "Check the runtime's network connection and run the cell again.")


def import_backbones(repo_dir: Path):
    """Upstream's ``dinov3.hub.backbones`` module from the clone at ``repo_dir``.

    Imported directly, with the clone on ``sys.path``: ``hubconf.py`` (what ``torch.hub.load``
    imports) pulls in the evaluation code and its dependencies, which the backbones do not need.
    """
    root = Path(repo_dir).resolve()
    loaded = sys.modules.get("dinov3")
    if loaded is not None and getattr(loaded, "__file__", None) and not Path(loaded.__file__).resolve().is_relative_to(root):
        raise RuntimeError(f"a dinov3 package from {Path(loaded.__file__).parent} is already imported, not the clone at "
                           f"{root}. Restart the runtime (Runtime > Restart session) and run the notebook again.")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        return importlib.import_module("dinov3.hub.backbones")
    except ImportError as error:
        raise ImportError(f"Could not import dinov3.hub.backbones from the clone at {root} ({error}). Move the clone "
                          f"to the kit's pinned commit with course.dinov3.clone_dinov3() (commit {DINOV3_COMMIT}).") from error


def _check_name(name: str) -> None:
    if name not in HUB_MODELS:
        raise ValueError(f"unknown DINOv3 model {name!r}; choose one of {', '.join(HUB_MODELS)}")


def hub_weights_path(name: str, folder: Path | None = None) -> Path:
    """Where the weights file of ``name`` is expected: ``<folder>/<file name Meta uses>``.

    Names without a known hash are matched by prefix (``dinov3_vith16plus_pretrain_*.pth``).
    """
    _check_name(name)
    folder = Path(folder) if folder is not None else dinov3_folder()
    if name in WEIGHTS_FILES:
        return folder / WEIGHTS_FILES[name]
    found = sorted(folder.glob(f"{name}_pretrain_*.pth"))
    return found[0] if found else folder / f"{name}_pretrain_lvd1689m-<hash>.pth"


def download_weights(url: str, name: str, folder: Path | None = None) -> Path:
    """Download the weights of ``name`` from the (expiring) URL Meta emailed you, once.

    The file lands at ``hub_weights_path(name, folder)``; an existing file is kept.
    """
    path = hub_weights_path(name, folder)
    if "<hash>" in path.name:
        path = path.with_name(url.split("?")[0].rsplit("/", 1)[-1])
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=True)
    return path


def load_dinov3_hub(name: str = "dinov3_vits16", repo_dir: Path | None = None,
                    weights: Path | None = None):
    """Upstream's DINOv3 model built from a local clone, with weights loaded from a local file.

    The seed notebook's approach without ``torch.hub.load``: build the architecture with
    upstream's ``dinov3.hub.backbones.<name>(pretrained=False)`` from ``repo_dir`` (default
    ``cache/dinov3/dinov3``, see ``clone_dinov3``), then ``load_state_dict`` from ``weights``
    (default ``hub_weights_path(name)``). Raises FileNotFoundError saying what to do when the
    clone or the weights file is missing.
    """
    _check_name(name)
    repo_dir = Path(repo_dir) if repo_dir is not None else dinov3_repo_dir()
    weights = Path(weights) if weights is not None else hub_weights_path(name)
    if not (repo_dir / "hubconf.py").is_file():
        raise FileNotFoundError(
            f"No clone of facebookresearch/dinov3 at {repo_dir}. Run once:\n"
            f"    course.dinov3.clone_dinov3()   (git clone {DINOV3_GITHUB}, then checkout {DINOV3_COMMIT[:12]})")
    if not weights.is_file():
        raise FileNotFoundError(
            f"No DINOv3 weights file at {weights}.\n"
            f"The weights are gated: request access at {DINOV3_DOWNLOADS}, then either copy the file "
            f"Meta's e-mail links to into {weights.parent}/ (keep its name), or call\n"
            f"    course.dinov3.download_weights('<the URL from the e-mail>', {name!r})\n"
            f"The links expire after about a week; the cached file does not. Alternatively use "
            f"load_dinov3(..., source='transformers') with {HF_MODEL_IDS[name]!r}.")
    model = getattr(import_backbones(repo_dir), name)(pretrained=False)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model


def load_dinov3_transformers(name: str = "dinov3_vits16"):
    """``DINOv3ViTModel.from_pretrained`` of the hub id for ``name`` (cached in ``cache/huggingface/hub``)."""
    from transformers import DINOv3ViTModel

    _check_name(name)
    model_id = HF_MODEL_IDS[name]
    try:
        return DINOv3ViTModel.from_pretrained(model_id, cache_dir=str(hf_hub_dir()))
    except OSError as error:  # gated repo, no token, or no network
        raise OSError(
            f"Could not load {model_id!r} from the Hugging Face hub ({error}).\n"
            f"The DINOv3 weights are gated: open https://huggingface.co/{model_id}, accept the licence, "
            "then log in with `from huggingface_hub import login; login()` (in Colab you can instead add "
            "HF_TOKEN under Secrets, the key icon on the left). Or use source='hub' with a weights file "
            "(see load_dinov3_hub).") from error


def load_dinov3(name: str = "dinov3_vits16", device=None, source: str = "transformers",
                tiny: bool | None = None, **kwargs):
    """A DINOv3 ViT on ``device`` in eval mode.

    - source="transformers" (default): ``load_dinov3_transformers(name)``.
    - source="hub": ``load_dinov3_hub(name, **kwargs)`` (pinned local clone + cached weights file).
    ``tiny`` (default: the ``COURSE_OFFLINE`` switch) builds ``tiny_dinov3()`` instead.
    """
    if source not in DINOV3_SOURCES:
        raise ValueError(f"source must be one of {DINOV3_SOURCES}, got {source!r}")
    if offline() if tiny is None else tiny:
        model = tiny_dinov3()
    elif source == "hub":
        model = load_dinov3_hub(name, **kwargs)
    else:
        model = load_dinov3_transformers(name)
    return model.to(device if device is not None else "cpu").eval()


def tiny_dinov3(seed: int = 0, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                patch_size: int = 16, num_register_tokens: int = 4, **config):
    """A small ``DINOv3ViTModel`` with seeded random weights (same classes as the real ones).

    ``hidden_size=384, num_layers=12, num_heads=6`` (the defaults of ``DINOv3ViTConfig``) give a
    ViT-S/16-sized architecture, e.g. for timing; extra keyword arguments go to the config.
    """
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    cfg = DINOv3ViTConfig(hidden_size=hidden_size, num_hidden_layers=num_layers,
                          num_attention_heads=num_heads, intermediate_size=4 * hidden_size,
                          patch_size=patch_size, num_register_tokens=num_register_tokens, **config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DINOv3ViTModel(cfg)
    return model.eval()


def is_transformers_model(model) -> bool:
    """True for a transformers DINOv3 model (it has a ``config``), False for a torch.hub one."""
    return hasattr(model, "config") and hasattr(model.config, "num_register_tokens")


def model_patch_size(model) -> int:
    """Patch size in pixels of a hub or transformers DINOv3 model."""
    return vit_patch_size(model.config if is_transformers_model(model) else model)


def model_device(model) -> torch.device:
    """The device the model's parameters are on."""
    return next(model.parameters()).device


@torch.inference_mode()
def patch_features(model, image: torch.Tensor) -> torch.Tensor:
    """Last-layer, normed patch features of one image, L2-normalised: [h, w, D].

    Inputs:
    - model: a DINOv3 ViT from torch.hub (``get_intermediate_layers``) or transformers.
    - image: [3, H, W] float, ImageNet-normalised, H and W multiples of the patch size.

    The [CLS] and register tokens are dropped; h = H / patch, w = W / patch.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected one image [3, H, W], got shape {tuple(image.shape)}")
    patch = model_patch_size(model)
    height, width = image.shape[-2:]
    if height % patch or width % patch:
        raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {patch}; "
                         "resize with course.tracking.preprocess_frame first.")
    batch = image.unsqueeze(0).to(model_device(model))  # [1, 3, H, W]
    if is_transformers_model(model):
        tokens = model(pixel_values=batch).last_hidden_state  # [1, 1 + R + h*w, D], normed
        skip = 1 + model.config.num_register_tokens
        feats = tokens[0, skip:].unflatten(0, (height // patch, width // patch))  # [h, w, D]
    else:
        feats = model.get_intermediate_layers(batch, n=1, reshape=True, norm=True)[0]  # [1, D, h, w]
        feats = feats[0].movedim(0, -1)  # [h, w, D]
    return F.normalize(feats.float(), dim=-1, p=2)  # [h, w, D]
