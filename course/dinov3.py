"""DINOv3 backbones as a student loads them, a tiny offline stand-in, and dense patch features.

Three real loading paths, all with Meta's DINOv3 weights (``load_dinov3``):

- "timm" (the default): timm's copy of the weights on the Hugging Face hub,
  ``timm/vit_small_patch16_dinov3.lvd1689m`` and its siblings (``TIMM_MODELS``), built by timm
  (>= 1.0.20) as its ``Eva`` class. Not gated: no licence request, no token, no e-mailed link; and
  timm is already installed in Colab. Cached in ``cache/huggingface/hub``. This is why it is the
  default: the two routes below both wait for Meta to approve a request by hand.
- "transformers": ``DINOv3ViTModel.from_pretrained("facebook/dinov3-vits16-pretrain-lvd1689m")``
  after accepting the licence on the Hugging Face hub (gated); cached in ``cache/huggingface/hub``.
- "hub": upstream's own code from a clone of ``facebookresearch/dinov3`` pinned to
  ``DINOV3_COMMIT``, plus a weights file kept in the kit's ``cache/dinov3`` folder (on Drive in
  Colab, so a restarted runtime re-uses both; the emailed download links expire after about a
  week, which is why the file is cached). The backbones are built from ``dinov3.hub.backbones``
  directly: upstream's ``hubconf.py`` also imports its evaluation code, which needs packages
  Colab lacks (torchmetrics; dinov3 issue #318), so ``torch.hub.load`` on the clone fails there.

``tiny_dinov3()`` builds a small DINOv3 through transformers' own classes (RoPE, register tokens,
final norm) with seeded random weights, so every code path runs offline, whichever the source;
its features carry no meaning. ``patch_features`` returns the same [h, w, D] features for timm,
hub and transformers models.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import urllib.error
from pathlib import Path

import torch
import torch.nn.functional as F

from course.vit import model_patch_size
from course.paths import cache_dir, hf_hub_dir, offline

DINOV3_GITHUB = "https://github.com/facebookresearch/dinov3.git"
# The commit of facebookresearch/dinov3 the kit was checked against ("Remove unused LinearW24",
# 2026-07-15): its dinov3/hub/backbones.py needs only torch and numpy.
DINOV3_COMMIT = "6876159a11b4df116f30f667f8c9888617df0751"
DINOV3_SOURCES = ("timm", "transformers", "hub")
DEFAULT_SOURCE = "timm"  # ungated, and timm is preinstalled in Colab (see the module docstring)
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
# timm's names for the same backbones and weights (timm/<name> on the Hugging Face hub, not gated;
# the DINOv3 licence applies). The variants without "_qkvb" have no query/value biases: those of
# Meta's published ViTs are all zero (dinov3 issue #195).
TIMM_MODELS = {
    "dinov3_vits16": "vit_small_patch16_dinov3.lvd1689m",
    "dinov3_vits16plus": "vit_small_plus_patch16_dinov3.lvd1689m",
    "dinov3_vitb16": "vit_base_patch16_dinov3.lvd1689m",
    "dinov3_vitl16": "vit_large_patch16_dinov3.lvd1689m",
    "dinov3_vith16plus": "vit_huge_plus_patch16_dinov3.lvd1689m",
    "dinov3_vit7b16": "vit_7b_patch16_dinov3.lvd1689m",
}
TIMM_MIN_VERSION = "1.0.20"  # the first timm with DINOv3 (timm/models/eva.py)
TIMM_ROUTE = ("load_dinov3(name, device, source='timm') (SOURCE = \"timm\" in the notebooks): timm's copy of the "
              "same weights, not gated, no token or licence request needed")


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


# A PyTorch checkpoint is a zip archive (torch.save's default since 1.6) or, in the legacy format,
# a pickle, whose first byte is the PROTO opcode 0x80.
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")


def weights_file_problem(path: Path) -> str | None:
    """None when ``path`` starts like a PyTorch checkpoint, else what it is instead.

    Reads the first 4 KB only. An expired or refused download link can leave an HTML or XML page
    (e.g. S3's ``<Error><Code>AccessDenied</Code>...``) under the weights file's name, which
    ``torch.load`` would only report as a cryptic unpickling error.
    """
    with open(path, "rb") as file:
        head = file.read(4096)
    if head.startswith(CHECKPOINT_MAGIC):
        return None
    if not head:
        return "an empty file"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        found = {tag: re.search(rf"<{tag}>(.*?)</{tag}>".encode(), text, re.S | re.I) for tag in ("Code", "Message", "title")}
        said = "; ".join(f"{tag}: {m.group(1).decode(errors='replace').strip()}" for tag, m in found.items() if m)
        return "an HTML/XML page, not a PyTorch checkpoint" + (f" (it says {said})" if said else "")
    return f"not a PyTorch checkpoint (it starts with {head[:8]!r}; a checkpoint starts with b'PK' or b'\\x80')"


def _refuse_bad_weights(path: Path, what_to_do: str) -> None:
    """Remove ``path`` and raise ValueError when it is not a PyTorch checkpoint."""
    problem = weights_file_problem(path)
    if problem is not None:
        path.unlink()
        raise ValueError(f"{path} was {problem}, so it was removed. {what_to_do}")


def _new_link_advice(name: str) -> str:
    return (f"Meta's e-mailed download links expire after about a week. Request a new link at {DINOV3_DOWNLOADS} "
            f"(the e-mail lists one link per model) and run download_weights('<the new URL>', {name!r}) again, "
            f"or skip the links altogether with {TIMM_ROUTE}.")


def download_weights(url: str, name: str, folder: Path | None = None) -> Path:
    """Download the weights of ``name`` from the (expiring) URL Meta emailed you, once.

    The file lands at ``hub_weights_path(name, folder)``; an existing checkpoint is kept (an
    existing file that is not one is replaced). Raises PermissionError when the link answers
    403 (expired: the message says what to do) and ValueError, after removing the file, when what
    arrived is not a PyTorch checkpoint (e.g. an "AccessDenied" page).
    """
    path = hub_weights_path(name, folder)
    if "<hash>" in path.name:
        path = path.with_name(url.split("?")[0].rsplit("/", 1)[-1])
    if path.is_file():
        problem = weights_file_problem(path)
        if problem is None:
            return path
        print(f"{path} is {problem}: removing it and downloading again", flush=True)
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(path), progress=True)
    except urllib.error.HTTPError as error:
        if error.code == 403:
            raise PermissionError(f"The download link for {name} was refused (HTTP 403 Forbidden): it has most likely "
                                  f"expired. {_new_link_advice(name)}") from error
        raise OSError(f"Downloading {name} failed: HTTP {error.code} {error.reason}. Check that WEIGHTS_URL is the whole "
                      f"link from Meta's e-mail for {name}. {_new_link_advice(name)}") from error
    _refuse_bad_weights(path, _new_link_advice(name))
    return path


def prepare_hub_route(name: str = "dinov3_vits16", weights_url: str = "") -> tuple[Path, Path]:
    """What the "hub" source needs before ``load_dinov3``: the pinned clone of
    facebookresearch/dinov3 (``clone_dinov3``, once) and, when ``weights_url`` is given, the
    weights file (``download_weights``, once). Returns (clone folder, weights file path); the file
    may still be missing when no URL was given (``load_dinov3_hub`` then says what to do)."""
    _check_name(name)
    repo_dir = clone_dinov3(commit=DINOV3_COMMIT)
    weights = download_weights(weights_url, name) if weights_url else hub_weights_path(name)
    return repo_dir, weights


def load_dinov3_hub(name: str = "dinov3_vits16", repo_dir: Path | None = None,
                    weights: Path | None = None):
    """Upstream's DINOv3 model built from a local clone, with weights loaded from a local file.

    The seed notebook's approach without ``torch.hub.load``: build the architecture with
    upstream's ``dinov3.hub.backbones.<name>(pretrained=False)`` from ``repo_dir`` (default
    ``cache/dinov3/dinov3``, see ``clone_dinov3``), then ``load_state_dict`` from ``weights``
    (default ``hub_weights_path(name)``). Raises FileNotFoundError saying what to do when the
    clone or the weights file is missing, and ValueError (removing it) when the file is not a
    PyTorch checkpoint.
    """
    _check_name(name)
    repo_dir = Path(repo_dir) if repo_dir is not None else dinov3_repo_dir()
    weights = Path(weights) if weights is not None else hub_weights_path(name)
    if not (repo_dir / "hubconf.py").is_file():
        raise FileNotFoundError(
            f"No clone of facebookresearch/dinov3 at {repo_dir}. Run once:\n"
            f"    course.dinov3.prepare_hub_route({name!r}, '<the URL from Meta's e-mail>')\n"
            f"(git clone {DINOV3_GITHUB}, checkout {DINOV3_COMMIT[:12]}, then the weights download; the notebooks "
            f"do this when SOURCE = \"hub\"). The weights of this route are gated; the ungated way is {TIMM_ROUTE}.")
    if not weights.is_file():
        raise FileNotFoundError(
            f"No DINOv3 weights file at {weights}.\n"
            f"The weights are gated: request access at {DINOV3_DOWNLOADS}, then either copy the file "
            f"Meta's e-mail links to into {weights.parent}/ (keep its name), or call\n"
            f"    course.dinov3.download_weights('<the URL from the e-mail>', {name!r})\n"
            f"The links expire after about a week; the cached file does not. No access, or no e-mail yet? "
            f"Use {TIMM_ROUTE}.")
    _refuse_bad_weights(weights, f"Download it again from Meta's e-mailed link ({_new_link_advice(name)})")
    model = getattr(import_backbones(repo_dir), name)(pretrained=False)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model


def _is_gated_refusal(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is the hub refusing a gated model: huggingface_hub's
    GatedRepoError, or HTTP 401/403."""
    while error is not None:
        if type(error).__name__ == "GatedRepoError" or "gated repo" in str(error):
            return True
        response = getattr(error, "response", None)
        if getattr(response, "status_code", None) in (401, 403):
            return True
        error = error.__cause__ or error.__context__
    return False


def load_dinov3_transformers(name: str = "dinov3_vits16"):
    """``DINOv3ViTModel.from_pretrained`` of the hub id for ``name`` (cached in ``cache/huggingface/hub``)."""
    from transformers import DINOv3ViTModel

    _check_name(name)
    model_id = HF_MODEL_IDS[name]
    try:
        return DINOv3ViTModel.from_pretrained(model_id, cache_dir=str(hf_hub_dir()))
    except OSError as error:  # gated repo, no token, or no network
        if _is_gated_refusal(error):
            why = (f"The Hugging Face hub refused {model_id!r}: the DINOv3 weights there are gated, and this account "
                   "has no access (not logged in, or the licence request is still pending or was refused; Meta "
                   "reviews each request by hand).")
        else:
            why = f"Could not load {model_id!r} from the Hugging Face hub ({error})."
        raise OSError(
            f"{why}\nThe ungated way to the same weights is {TIMM_ROUTE}.\n"
            f"To use this gated route instead: open https://huggingface.co/{model_id}, accept the licence, wait for "
            "the approval, then log in with `from huggingface_hub import login; login()` (in Colab you can instead "
            "add HF_TOKEN under Secrets, the key icon on the left).") from error


def load_dinov3_timm(name: str = "dinov3_vits16"):
    """timm's DINOv3 (``TIMM_MODELS[name]``, e.g. ``timm/vit_small_patch16_dinov3.lvd1689m``) with
    Meta's weights from the Hugging Face hub, not gated; cached in ``cache/huggingface/hub``."""
    import timm

    _check_name(name)
    arch = TIMM_MODELS[name]
    if not timm.is_model(arch.split(".")[0]):
        raise ImportError(f"timm {timm.__version__} has no DINOv3 models (timm {TIMM_MIN_VERSION} added them). Run "
                          f"`pip install -U 'timm>={TIMM_MIN_VERSION}'`, restart the runtime (Runtime > Restart "
                          "session) and run the notebook again.")
    try:
        return timm.create_model(arch, pretrained=True, cache_dir=str(hf_hub_dir()))
    except OSError as error:  # no network and nothing cached
        raise OSError(f"Could not load DINOv3's weights from the Hugging Face hub (timm/{arch}): {error}\n"
                      "These weights are not gated (no token needed): check the runtime's network connection and "
                      "run the cell again.") from error


def weights_source(name: str = "dinov3_vits16", source: str = DEFAULT_SOURCE) -> str:
    """Where ``load_dinov3(name, source=source)`` takes the weights from, in one line."""
    _check_name(name)
    _check_source(source)
    if source == "timm":
        return f"timm/{TIMM_MODELS[name]} on the Hugging Face hub (timm's copy of Meta's weights, not gated)"
    if source == "transformers":
        return f"{HF_MODEL_IDS[name]} on the Hugging Face hub (gated: accept the licence, then log in)"
    return f"{hub_weights_path(name)} (Meta's weights file) with the code of {dinov3_repo_dir()}"


def _check_source(source: str) -> None:
    if source not in DINOV3_SOURCES:
        raise ValueError(f"source must be one of {DINOV3_SOURCES}, got {source!r}")


def load_dinov3(name: str = "dinov3_vits16", device=None, source: str = DEFAULT_SOURCE,
                tiny: bool | None = None, **kwargs):
    """A DINOv3 ViT on ``device`` in eval mode.

    - source="timm" (default): ``load_dinov3_timm(name)``, timm's ungated copy of Meta's weights
      (timm >= 1.0.20, preinstalled in Colab).
    - source="transformers": ``load_dinov3_transformers(name)`` (gated on the Hugging Face hub).
    - source="hub": ``load_dinov3_hub(name, **kwargs)`` (pinned local clone + cached weights file,
      gated by Meta's download form; see ``prepare_hub_route``).
    ``tiny`` (default: the ``COURSE_OFFLINE`` switch) builds ``tiny_dinov3()`` instead, whatever the source.
    """
    _check_source(source)
    if offline() if tiny is None else tiny:
        model = tiny_dinov3()
    elif source == "hub":
        model = load_dinov3_hub(name, **kwargs)
    elif source == "transformers":
        model = load_dinov3_transformers(name)
    else:
        model = load_dinov3_timm(name)
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
    """True for a transformers DINOv3 model (it has a ``config``), False for a timm or torch.hub one."""
    return hasattr(model, "config") and hasattr(model.config, "num_register_tokens")


def is_timm_model(model) -> bool:
    """True for a timm ViT (DINOv3's ``Eva``): ``forward_features`` gives [B, prefix + N, D] tokens,
    the first ``num_prefix_tokens`` of them [CLS] and registers."""
    return not is_transformers_model(model) and hasattr(model, "num_prefix_tokens") and hasattr(model, "forward_features")


def model_device(model) -> torch.device:
    """The device the model's parameters are on."""
    return next(model.parameters()).device


@torch.inference_mode()
def patch_features(model, image: torch.Tensor) -> torch.Tensor:
    """Last-layer, normed patch features of one image, L2-normalised: [h, w, D].

    Inputs:
    - model: a DINOv3 ViT from timm (``forward_features``), torch.hub (``get_intermediate_layers``)
      or transformers.
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
    grid = (height // patch, width // patch)
    if is_transformers_model(model):
        tokens = model(pixel_values=batch).last_hidden_state  # [1, 1 + R + h*w, D], normed
        skip = 1 + model.config.num_register_tokens
        feats = tokens[0, skip:].unflatten(0, grid)  # [h, w, D]
    elif is_timm_model(model):
        tokens = model.forward_features(batch)  # [1, 1 + R + h*w, D], final norm applied
        feats = tokens[0, model.num_prefix_tokens:].unflatten(0, grid)  # [h, w, D]
    else:
        feats = model.get_intermediate_layers(batch, n=1, reshape=True, norm=True)[0]  # [1, D, h, w]
        feats = feats[0].movedim(0, -1)  # [h, w, D]
    return F.normalize(feats.float(), dim=-1, p=2)  # [h, w, D]
