"""get_datasets.sh, ``course.colab.fetch_dataset``, the COCO loader and the shipped samples, offline.

The script runs with fake ``curl``/``wget`` first on PATH: one that records its calls and fails
like a DNS failure (proves nothing is fetched, checks the offline message), and one that serves
files from a temporary folder laid out as ``<host>/<path>`` (runs the whole download path on
small generated data: resume, size check, caption extraction, unzip; with ``FAKE_SLOW_SECONDS``
it takes that long, so that progress lines appear; a ``<file>.status`` beside a file makes it answer
an HTTP error instead). The HTTP errors are also checked with the real curl against a server on
127.0.0.1.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course import coco, colab, paths
from course.clip_dino import DavisDataset
from course.paths import KIT_ROOT, samples_dir

SCRIPT = KIT_ROOT / "get_datasets.sh"
SELECTION = json.loads((KIT_ROOT / "datasets" / "coco_selection.json").read_text())
SELECTED_IDS = [int(image["id"]) for image in SELECTION["images"]]
COCO_HOST = "images.cocodataset.org"
DAVIS_HOST = "data.vision.ee.ethz.ch"
DAVIS_PATH = "csergi/share/davis/DAVIS-2017-trainval-480p.zip"

FAILING_DOWNLOADER = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$FAKE_CALLS"
echo "$(basename "$0"): (6) Could not resolve host: images.cocodataset.org" >&2
exit 6
"""

# Serves <FAKE_WEB_ROOT>/<host>/<path> for the curl options get_datasets.sh uses:
# a HEAD request (-I in a short-option group) or a download to -o PATH, resumed with -C -.
# With -f, an HTTP error is exit status 22; -w '%{http_code}' prints the status last. A file
# <path>.status holding "403" makes every request for <path> answer 403, "GET 403" only downloads.
SERVING_CURL = """#!{python}
import os, sys, time
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_CALLS"], "a") as log:
    log.write("curl " + " ".join(args) + "\\n")
head = any(a.startswith("-") and not a.startswith("--") and "I" in a for a in args)
source = Path(os.environ["FAKE_WEB_ROOT"]) / args[-1].split("://", 1)[1]
status_file = Path(str(source) + ".status")
rule = status_file.read_text().split() if status_file.is_file() else []
status = 200 if source.is_file() else 404
if rule and (len(rule) == 1 or not head):
    status = int(rule[-1])
if status != 200:
    if head:
        sys.stdout.write(f"HTTP/1.1 {{status}} Error\\r\\nContent-Length: 0\\r\\n\\r\\n")
    elif "-w" in args:
        sys.stdout.write(str(status))
    sys.stderr.write(f"curl: (22) The requested URL returned error: {{status}}\\n")
    sys.exit(22)
data = source.read_bytes()
if head:
    size = os.environ.get("FAKE_CONTENT_LENGTH") or len(data)
    sys.stdout.write(f"HTTP/1.1 200 OK\\r\\nContent-Length: {{size}}\\r\\n\\r\\n")
    sys.exit(0)
if "-w" in args:
    sys.stdout.write("200")
out = Path(args[args.index("-o") + 1])
start = out.stat().st_size if "-C" in args and out.exists() else 0
slow = float(os.environ.get("FAKE_SLOW_SECONDS") or 0)
with open(out, "ab" if start else "wb") as handle:
    middle = start + (len(data) - start) // 2
    handle.write(data[start:middle])
    handle.flush()
    time.sleep(slow)  # half the file is there meanwhile
    handle.write(data[middle:])
"""


def write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def env(tmp_path):
    """Environment for the script: DATASETS_DIR in tmp, fake bin dir first on PATH, a call log."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    return {
        **os.environ,
        "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
        "DATASETS_DIR": str(tmp_path / "My Drive" / "datasets"),  # a space, as on Colab's Drive
        "PYTHON": sys.executable,
        "FAKE_CALLS": str(tmp_path / "calls.log"),
        "FAKE_WEB_ROOT": str(tmp_path / "web"),
    }


def offline_downloaders(env) -> None:
    """curl and wget that log every call and fail like a DNS failure."""
    fake_bin = Path(env["PATH"].split(os.pathsep)[0])
    for name in ("curl", "wget"):
        write_executable(fake_bin / name, FAILING_DOWNLOADER)


def serving_curl(env) -> None:
    """A curl that serves files from FAKE_WEB_ROOT (and a wget that must not be used)."""
    fake_bin = Path(env["PATH"].split(os.pathsep)[0])
    write_executable(fake_bin / "curl", SERVING_CURL.format(python=sys.executable))
    write_executable(fake_bin / "wget", FAILING_DOWNLOADER)


def calls(env) -> list[str]:
    log = Path(env["FAKE_CALLS"])
    return log.read_text().splitlines() if log.exists() else []


def run_script(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def jpeg_bytes(width: int, height: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def captions_val2017(ids, skip_captions_of=(), recorded_sizes=True) -> dict:
    """A small captions_val2017.json: two captions per image, written with the larger id first.

    Image sizes are those coco_selection.json records (the script cross-checks them), or 16x24.
    """
    sizes = {int(image["id"]): (image["height"], image["width"]) for image in SELECTION["images"]}
    images = []
    for i in ids:
        height, width = sizes.get(i, (16, 24)) if recorded_sizes else (16, 24)
        images.append({"id": i, "file_name": f"{i:012d}.jpg", "license": 4, "height": height,
                       "width": width, "coco_url": f"http://{COCO_HOST}/val2017/{i:012d}.jpg"})
    annotations = []
    for n, i in enumerate(ids):
        if i not in skip_captions_of:
            annotations.append({"image_id": i, "id": 1000 + 2 * n + 1, "caption": f"second caption of {i}"})
            annotations.append({"image_id": i, "id": 1000 + 2 * n, "caption": f" first caption of {i} "})
    licenses = [{"id": 4, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/2.0/"}]
    return {"info": {}, "licenses": licenses, "images": images, "annotations": annotations}


def fake_coco_hosting(web: Path, skip_captions_of=(), recorded_sizes=True) -> None:
    """COCO's image and annotation hosting, laid out for SERVING_CURL, with generated content."""
    images_dir = web / COCO_HOST / "val2017"
    images_dir.mkdir(parents=True)
    for i in SELECTED_IDS:
        (images_dir / f"{i:012d}.jpg").write_bytes(jpeg_bytes(24, 16, seed=i))
    annotations = captions_val2017(SELECTED_IDS + [1], skip_captions_of, recorded_sizes)
    zip_path = web / COCO_HOST / "annotations" / "annotations_trainval2017.zip"
    zip_path.parent.mkdir(parents=True)
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("annotations/captions_val2017.json", json.dumps(annotations))
        archive.writestr("annotations/instances_val2017.json", "{}")


def write_davis(root: Path, sequences=("bear", "cows"), frames: int = 2) -> None:
    """A DAVIS 2017-style folder: JPEG frames, palette masks with ids 0..2, ImageSets/2017."""
    for s, sequence in enumerate(sequences):
        frames_dir = root / "JPEGImages" / "480p" / sequence
        masks_dir = root / "Annotations" / "480p" / sequence
        frames_dir.mkdir(parents=True)
        masks_dir.mkdir(parents=True)
        for t in range(frames):
            (frames_dir / f"{t:05d}.jpg").write_bytes(jpeg_bytes(24, 16, seed=10 * s + t))
            ids = np.zeros((16, 24), dtype=np.uint8)  # [H, W] object ids
            ids[2:8, 2:10], ids[9:14, 12:20] = 1, 2
            mask = Image.fromarray(ids, mode="P")
            mask.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0])
            mask.save(masks_dir / f"{t:05d}.png")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "train.txt").write_text(sequences[0] + "\n")
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(sequences[1:]) + "\n")


def fake_davis_hosting(web: Path) -> None:
    """DAVIS-2017-trainval-480p.zip with a top-level DAVIS/ folder, as the real archive has."""
    staging = web / "staging" / "DAVIS"
    write_davis(staging)
    zip_path = web / DAVIS_HOST / DAVIS_PATH
    zip_path.parent.mkdir(parents=True)
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(staging.rglob("*")):
            archive.write(path, path.relative_to(staging.parent))


def populate_coco(coco_dir: Path) -> None:
    """What a finished `get_datasets.sh coco` leaves: the JPEGs and captions.json."""
    coco_dir.mkdir(parents=True)
    entries = []
    for i in SELECTED_IDS:
        (coco_dir / f"{i:012d}.jpg").write_bytes(jpeg_bytes(24, 16, seed=i))
        entries.append({"id": i, "file_name": f"{i:012d}.jpg", "captions": [{"id": i, "caption": f"image {i}"}]})
    (coco_dir / "captions.json").write_text(json.dumps({"images": entries}))


# ---------------------------------------------------------------------------------------------
# Argument handling
# ---------------------------------------------------------------------------------------------


def test_help_lists_datasets_and_credits(env):
    offline_downloaders(env)
    result = run_script(env, "--help")
    assert result.returncode == 0
    for word in ("coco", "davis", "all", "DATASETS_DIR", "CC BY 4.0", "COCO", "DAVIS"):
        assert word in result.stdout
    assert calls(env) == []


@pytest.mark.parametrize("args", [("imagenet",), ("coco", "davis")])
def test_bad_arguments_exit_2_with_usage(env, args):
    offline_downloaders(env)
    result = run_script(env, *args)
    assert result.returncode == 2
    assert "Usage: bash get_datasets.sh" in result.stderr
    assert calls(env) == []


# ---------------------------------------------------------------------------------------------
# Skip when present, offline failures
# ---------------------------------------------------------------------------------------------


def test_present_datasets_are_skipped_without_network(env):
    offline_downloaders(env)
    datasets = Path(env["DATASETS_DIR"])
    populate_coco(datasets / "coco")
    write_davis(datasets / "DAVIS")
    result = run_script(env, "all")
    assert result.returncode == 0, result.stderr
    assert "coco: already present and verified" in result.stdout
    assert "davis: already present and verified" in result.stdout
    assert calls(env) == []  # neither curl nor wget was run


def test_default_folder_is_datasets_next_to_the_script(env, tmp_path):
    offline_downloaders(env)
    kit = tmp_path / "My Drive" / "kit"  # a copy of the kit, as uploaded to Drive
    (kit / "datasets").mkdir(parents=True)
    shutil.copy(SCRIPT, kit / "get_datasets.sh")
    shutil.copy(KIT_ROOT / "datasets" / "coco_selection.json", kit / "datasets")
    populate_coco(kit / "datasets" / "coco")
    del env["DATASETS_DIR"]
    result = subprocess.run(["bash", str(kit / "get_datasets.sh"), "coco"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"already present and verified in {kit / 'datasets' / 'coco'}" in result.stdout
    assert calls(env) == []


@pytest.mark.parametrize("dataset, host", [("coco", COCO_HOST), ("davis", DAVIS_HOST)])
def test_offline_fails_clearly_and_leaves_nothing_verified(env, dataset, host):
    offline_downloaders(env)
    result = run_script(env, dataset)
    assert result.returncode != 0
    assert f"cannot reach {host}" in result.stderr
    assert "check the network" in result.stderr and "Colab" in result.stderr
    assert calls(env), "the script should have tried to download"
    datasets = Path(env["DATASETS_DIR"])
    assert not (datasets / "coco" / "captions.json").exists()
    assert not (datasets / "DAVIS").exists()
    again = run_script(env, dataset)  # still not reported as present
    assert again.returncode != 0 and "already present" not in again.stdout


def test_incomplete_coco_is_not_taken_as_present(env):
    offline_downloaders(env)
    coco_dir = Path(env["DATASETS_DIR"]) / "coco"
    populate_coco(coco_dir)
    image = coco_dir / f"{SELECTED_IDS[3]:012d}.jpg"
    image.write_bytes(image.read_bytes()[:-10])  # a truncated JPEG
    result = run_script(env, "coco")
    assert result.returncode != 0
    assert "already present" not in result.stdout
    assert calls(env)


# ---------------------------------------------------------------------------------------------
# The download path, against generated files served by a fake curl
# ---------------------------------------------------------------------------------------------


def test_coco_download_extracts_captions_and_resumes(env):
    web = Path(env["FAKE_WEB_ROOT"])
    fake_coco_hosting(web)
    serving_curl(env)
    coco_dir = Path(env["DATASETS_DIR"]) / "coco"
    coco_dir.mkdir(parents=True)
    resumed_name = f"{SELECTED_IDS[0]:012d}.jpg"
    source = (web / COCO_HOST / "val2017" / resumed_name).read_bytes()
    (coco_dir / f"{resumed_name}.part").write_bytes(source[:100])  # an interrupted download

    result = run_script(env, "coco")
    assert result.returncode == 0, result.stderr
    assert "CC BY 4.0" in result.stdout
    assert (coco_dir / resumed_name).read_bytes() == source
    assert any("-C -" in call and resumed_name in call for call in calls(env))
    assert not list(Path(env["DATASETS_DIR"]).glob("*.zip"))  # the big zip is deleted
    assert not list(coco_dir.glob("*.part"))

    index = json.loads((coco_dir / "captions.json").read_text())
    assert [entry["id"] for entry in index["images"]] == SELECTED_IDS
    assert index["images"][0]["license"] == "Attribution License"

    images, captions = coco.load_coco_selection(root=coco_dir)
    assert len(images) == len(captions) == len(SELECTED_IDS)
    assert all(image.dtype == np.uint8 and image.shape == (16, 24, 3) for image in images)
    assert captions == [f"first caption of {i}" for i in SELECTED_IDS]  # lowest annotation id

    calls_before = len(calls(env))
    again = run_script(env, "coco")
    assert again.returncode == 0 and "already present" in again.stdout
    assert len(calls(env)) == calls_before

    (coco_dir / resumed_name).unlink()  # one image lost: only that one is fetched again
    repaired = run_script(env, "coco")
    assert repaired.returncode == 0, repaired.stderr
    new_downloads = [call for call in calls(env)[calls_before:] if " -o " in call]
    assert len(new_downloads) == 1 and resumed_name in new_downloads[0]


def test_coco_fails_when_a_selected_id_has_no_caption(env):
    web = Path(env["FAKE_WEB_ROOT"])
    fake_coco_hosting(web, skip_captions_of=(SELECTED_IDS[5],))
    serving_curl(env)
    result = run_script(env, "coco")
    assert result.returncode != 0
    assert str(SELECTED_IDS[5]) in result.stderr and "no caption" in result.stderr
    assert not (Path(env["DATASETS_DIR"]) / "coco" / "captions.json").exists()


def test_coco_fails_when_the_selection_sizes_disagree_with_coco(env):
    fake_coco_hosting(Path(env["FAKE_WEB_ROOT"]), recorded_sizes=False)
    serving_curl(env)
    result = run_script(env, "coco")
    assert result.returncode != 0
    assert "the selection may hold a wrong id" in result.stderr
    assert not (Path(env["DATASETS_DIR"]) / "coco" / "captions.json").exists()


def test_size_mismatch_with_the_server_fails(env):
    fake_coco_hosting(Path(env["FAKE_WEB_ROOT"]))
    serving_curl(env)
    env["FAKE_CONTENT_LENGTH"] = "999999"
    result = run_script(env, "coco")
    assert result.returncode != 0
    assert "the server announced 999999" in result.stderr
    assert not list((Path(env["DATASETS_DIR"]) / "coco").glob("*.jpg"))


def test_davis_download_unzips_into_davis_layout(env):
    fake_davis_hosting(Path(env["FAKE_WEB_ROOT"]))
    serving_curl(env)
    result = run_script(env, "davis")
    assert result.returncode == 0, result.stderr
    root = Path(env["DATASETS_DIR"]) / "DAVIS"
    for folder in ("JPEGImages", "Annotations", "ImageSets"):
        assert (root / folder).is_dir()
    assert not list(Path(env["DATASETS_DIR"]).glob("*.zip"))
    dataset = DavisDataset(root=root, split="val")
    assert dataset.sequences == ["cows"]
    frames, masks = dataset.get_sample("cows")
    assert frames.shape == (2, 16, 24, 3) and set(np.unique(masks)) == {0, 1, 2}
    again = run_script(env, "davis")
    assert again.returncode == 0 and "already present" in again.stdout


def test_large_downloads_and_the_unzip_print_whole_progress_lines(env):
    """Outside a terminal (a Colab cell, a log), progress comes as whole lines, never as "\\r" bars."""
    fake_davis_hosting(Path(env["FAKE_WEB_ROOT"]))
    serving_curl(env)
    env.update(FAKE_SLOW_SECONDS="2.5", PROGRESS_SECONDS="1")
    result = run_script(env, "davis")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout + result.stderr
    assert re.search(r"DAVIS-2017-trainval-480p\.zip\.part: [\d.]+ MB of [\d.]+ MB \(\d+%\)", result.stdout), result.stdout
    files = sum(1 for info in zipfile.ZipFile(Path(env["FAKE_WEB_ROOT"]) / DAVIS_HOST / DAVIS_PATH).infolist()
                if not info.is_dir())
    assert f"unzipped {files} files" in result.stdout


def course_fetch_env(env, monkeypatch) -> Path:
    """What fetch_dataset needs to run get_datasets.sh against the fakes: the real path
    (COURSE_OFFLINE=0), the datasets folder in tmp, the fake downloaders first on PATH."""
    monkeypatch.setenv(paths.OFFLINE_ENV, "0")
    monkeypatch.setenv(paths.DATASETS_ENV, env["DATASETS_DIR"])
    for name in ("PATH", "FAKE_CALLS", "FAKE_WEB_ROOT", "PROGRESS_SECONDS", "FAKE_SLOW_SECONDS"):
        if name in env:
            monkeypatch.setenv(name, env[name])
    return Path(env["DATASETS_DIR"])


def test_fetch_dataset_streams_the_scripts_progress_into_the_cell(env, monkeypatch, capsys):
    """In Colab, only what goes through sys.stdout reaches the cell: the script's lines must."""
    fake_davis_hosting(Path(env["FAKE_WEB_ROOT"]))
    serving_curl(env)
    env.update(FAKE_SLOW_SECONDS="2.5", PROGRESS_SECONDS="1")
    datasets = course_fetch_env(env, monkeypatch)
    assert colab.fetch_dataset("davis") == datasets / "DAVIS"
    out = capsys.readouterr().out
    for line in ("davis: fetching DAVIS 2017", "  downloading https://", "davis: unzipping", "unzipped", "davis: done"):
        assert line in out, out
    assert re.search(r"\.zip\.part: [\d.]+ MB of [\d.]+ MB", out), out


def test_fetch_dataset_failure_shows_the_scripts_message(env, monkeypatch, capsys):
    offline_downloaders(env)
    course_fetch_env(env, monkeypatch)
    with pytest.raises(RuntimeError, match="cannot reach images.cocodataset.org") as failure:
        colab.fetch_dataset("coco")
    assert "check the network connection" in str(failure.value) and "exit status 1" in str(failure.value)
    assert "cannot reach images.cocodataset.org" in capsys.readouterr().out  # streamed as it happened


def test_stream_command_prints_each_line_as_it_comes(monkeypatch):
    printed = []

    class Clock(io.StringIO):
        def write(self, text):
            printed.append((time.monotonic(), text))
            return len(text)

    monkeypatch.setattr(sys, "stdout", Clock())
    result = colab.stream_command(["bash", "-c", "echo first; sleep 1.5; echo second >&2; exit 3"])
    lines = [(t, text) for t, text in printed if text.strip()]
    assert [text.strip() for _, text in lines] == ["first", "second"]
    assert lines[1][0] - lines[0][0] > 1  # "first" was shown before the command ended
    assert result.returncode == 3 and result.stdout.splitlines() == ["first", "second"]


def test_davis_never_overwrites_a_folder_it_did_not_finish(env):
    fake_davis_hosting(Path(env["FAKE_WEB_ROOT"]))
    serving_curl(env)
    root = Path(env["DATASETS_DIR"]) / "DAVIS"
    (root / "JPEGImages" / "480p" / "mine").mkdir(parents=True)  # e.g. a student's own copy
    result = run_script(env, "davis")
    assert result.returncode != 0
    assert "is not a complete DAVIS 2017" in result.stderr
    assert (root / "JPEGImages" / "480p" / "mine").is_dir()
    assert calls(env) == []


# ---------------------------------------------------------------------------------------------
# HTTP errors: an expired or forbidden link says so, with its status
# ---------------------------------------------------------------------------------------------


def refuse(web: Path, host: str, path: str, rule: str) -> None:
    """Make the fake server answer ``rule`` ("403": every request; "GET 403": downloads only) for a file."""
    (web / host / f"{path}.status").write_text(rule)


@pytest.mark.parametrize("rule", ["403", "GET 403"], ids=["refused when asked its size", "refused on download"])
def test_an_expired_davis_link_says_so(env, rule):
    fake_davis_hosting(Path(env["FAKE_WEB_ROOT"]))
    refuse(Path(env["FAKE_WEB_ROOT"]), DAVIS_HOST, DAVIS_PATH, rule)
    serving_curl(env)
    result = run_script(env, "davis")
    assert result.returncode == 1
    assert f"refused the download of https://{DAVIS_HOST}/{DAVIS_PATH} (HTTP 403 Forbidden)" in result.stderr
    assert "the link has expired" in result.stderr and "DAVIS_URL=<its URL>" in result.stderr
    assert not (Path(env["DATASETS_DIR"]) / "DAVIS").exists()


def test_a_moved_coco_image_is_named_with_its_status(env):
    web = Path(env["FAKE_WEB_ROOT"])
    fake_coco_hosting(web)
    name = f"{SELECTED_IDS[2]:012d}.jpg"
    (web / COCO_HOST / "val2017" / name).unlink()
    serving_curl(env)
    result = run_script(env, "coco")
    assert result.returncode == 1
    assert f"no file at http://{COCO_HOST}/val2017/{name} (HTTP 404 Not Found): it has moved" in result.stderr
    assert "COCO_IMAGES_URL=<its URL>" in result.stderr


def test_a_server_error_says_to_try_again_later(env):
    fake_davis_hosting(Path(env["FAKE_WEB_ROOT"]))
    refuse(Path(env["FAKE_WEB_ROOT"]), DAVIS_HOST, DAVIS_PATH, "503")
    serving_curl(env)
    result = run_script(env, "davis")
    assert result.returncode == 1 and "(HTTP 503): it is having trouble; wait a few minutes" in result.stderr


class Refusing(BaseHTTPRequestHandler):
    """A web server on 127.0.0.1: /expired/* answers 403 (with an XML error page, as cloud storage
    does), /get-expired/* answers HEAD but refuses GET with 403."""

    def answer(self, body: bool) -> None:
        refused = self.path.startswith("/expired/") or (body and self.path.startswith("/get-expired/"))
        page = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>" if refused else b"x" * 64
        self.send_response(403 if refused else 200)
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        if body:
            self.wfile.write(page)

    def do_HEAD(self):
        self.answer(body=False)

    def do_GET(self):
        self.answer(body=True)

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the real curl")
@pytest.mark.parametrize("path", ["expired", "get-expired"])
def test_the_real_curl_reports_a_403_by_its_status(env, path):
    server = HTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env["DAVIS_URL"] = f"http://127.0.0.1:{server.server_port}/{path}/DAVIS-2017-trainval-480p.zip"
        result = run_script(env, "davis")  # the real curl: no fake on PATH
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert f"refused the download of {env['DAVIS_URL']} (HTTP 403 Forbidden)" in result.stderr, result.stderr
    datasets = Path(env["DATASETS_DIR"])
    assert not list(datasets.glob("*.zip")) and not (datasets / "DAVIS").exists()  # the error page is not kept


# ---------------------------------------------------------------------------------------------
# DAVIS unzipped on the runtime's local disk, its zip cached on Drive (UNZIP_DIR)
# ---------------------------------------------------------------------------------------------


def test_davis_unzips_elsewhere_and_keeps_the_zip_for_the_next_runtime(env, tmp_path):
    fake_davis_hosting(Path(env["FAKE_WEB_ROOT"]))
    serving_curl(env)
    env["UNZIP_DIR"] = str(tmp_path / "content" / "datasets")  # Colab's local disk
    drive, local = Path(env["DATASETS_DIR"]), Path(env["UNZIP_DIR"])
    result = run_script(env, "davis")
    assert result.returncode == 0, result.stderr
    assert DavisDataset(root=local / "DAVIS", split="val").sequences == ["cows"]
    assert not (drive / "DAVIS").exists() and not list(local.glob("*.zip"))
    zip_path = drive / "DAVIS-2017-trainval-480p.zip"
    assert zip_path.is_file() and "the next run unzips it again, without downloading" in result.stdout

    shutil.rmtree(local)  # a new runtime: the local disk is empty, Drive still has the zip
    offline_downloaders(env)  # and nothing may be downloaded
    calls_before = len(calls(env))
    again = run_script(env, "davis")
    assert again.returncode == 0, again.stderr
    assert f"davis: using the zip kept in {zip_path} (no download)" in again.stdout
    assert len(calls(env)) == calls_before
    frames, masks = DavisDataset(root=local / "DAVIS", split="val").get_sample("cows")
    assert frames.shape == (2, 16, 24, 3) and set(np.unique(masks)) == {0, 1, 2}


def test_davis_already_unzipped_on_drive_is_used_as_it_is(env, tmp_path):
    offline_downloaders(env)
    write_davis(Path(env["DATASETS_DIR"]) / "DAVIS")  # unzipped there by an earlier version of the kit
    env["UNZIP_DIR"] = str(tmp_path / "content" / "datasets")
    result = run_script(env, "davis")
    assert result.returncode == 0, result.stderr
    assert f"already present and verified in {Path(env['DATASETS_DIR']) / 'DAVIS'}" in result.stdout
    assert calls(env) == [] and not (Path(env["UNZIP_DIR"]) / "DAVIS").exists()


def test_fetch_dataset_returns_the_folder_davis_was_unzipped_into(env, monkeypatch, tmp_path):
    fake_davis_hosting(Path(env["FAKE_WEB_ROOT"]))
    serving_curl(env)
    datasets = course_fetch_env(env, monkeypatch)
    local = tmp_path / "content" / "datasets"
    monkeypatch.setenv(paths.UNZIP_ENV, str(local))  # what the set-up does in Colab (there: /content/datasets)
    assert colab.fetch_dataset("davis") == local / "DAVIS"
    assert (datasets / "DAVIS-2017-trainval-480p.zip").is_file() and not (datasets / "DAVIS").exists()
    shutil.rmtree(local)
    write_davis(datasets / "DAVIS")  # an earlier kit's copy on Drive, and no local one
    assert colab.fetch_dataset("davis") == datasets / "DAVIS"


# ---------------------------------------------------------------------------------------------
# course/coco.py and the shipped samples
# ---------------------------------------------------------------------------------------------


def test_missing_coco_names_the_command(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="bash get_datasets.sh coco"):
        coco.load_coco_selection(root=tmp_path / "coco")
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(coco, "datasets_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="bash get_datasets.sh coco"):
        coco.load_coco_selection()


def test_offline_loads_the_shipped_sample(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    images, captions = coco.load_coco_selection()
    index = json.loads((samples_dir() / "clip" / "captions.json").read_text())
    assert len(images) == len(captions) == len(index["images"]) >= 6
    for image, caption in zip(images, captions):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert isinstance(caption, str) and caption
    assert captions[0] == index["images"][0]["captions"][0]["caption"]


def test_a_missing_sample_says_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(coco, "samples_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="make_samples.py"):
        coco.load_coco_selection()


def test_sample_davis_loads_with_object_ids():
    root = samples_dir() / "DAVIS"
    dataset = DavisDataset(root=root)
    assert dataset.sequences == ["blackswan", "dog", "soapbox"]
    for sequence in dataset.sequences:
        frames, masks = dataset.get_sample(sequence)
        num_frames = len(list((root / "JPEGImages" / "480p" / sequence).glob("*.jpg")))
        assert frames.shape[0] == masks.shape[0] == num_frames >= 12
        assert frames.dtype == np.uint8 and frames.shape[1:3] == masks.shape[1:3]
        assert set(np.unique(masks)) == {0, 1}  # DAVIS 2016 0/255 masks load as ids 0/1


def test_samples_are_small_and_credited():
    files = [path for path in samples_dir().rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) < 3_000_000
    assert "CC BY 4.0" in (samples_dir() / "README.md").read_text()


def test_selection_tells_the_notebook_story():
    assert len(SELECTED_IDS) == len(set(SELECTED_IDS)) == 10
    contents = " ".join(image["content"] for image in SELECTION["images"])
    for subject in ("tennis", "zebra", "skateboard", "bathroom", "mountains", "people"):
        assert subject in contents


def test_make_samples_builds_the_layout(tmp_path):
    source = tmp_path / "davis2016"
    for sequence in ("blackswan", "dog", "soapbox"):
        (source / "JPEGImages" / "480p" / sequence).mkdir(parents=True)
        (source / "Annotations" / "480p" / sequence).mkdir(parents=True)
        for t in range(100):  # the CLIP stand-ins use frames up to 98
            name = f"{t:05d}"
            (source / "JPEGImages" / "480p" / sequence / f"{name}.jpg").write_bytes(jpeg_bytes(40, 24, t))
            mask = np.zeros((24, 40), dtype=np.uint8)
            mask[4:20, 8:30] = 255
            Image.fromarray(mask, mode="L").save(source / "Annotations" / "480p" / sequence / f"{name}.png")
    out = tmp_path / "samples"
    subprocess.run([sys.executable, str(KIT_ROOT / "datasets" / "make_samples.py"), str(source),
                    "--out", str(out), "--frames", "3"], check=True, capture_output=True, timeout=120)
    dataset = DavisDataset(root=out / "DAVIS")
    frames, masks = dataset.get_sample("dog")
    assert frames.shape == (3, 12, 20, 3)
    assert set(np.unique(np.array(Image.open(out / "DAVIS" / "Annotations" / "480p" / "dog" / "00000.png")))) == {0, 255}
    images, captions = coco.load_coco_images(out / "clip", coco.SAMPLE_HINT)
    assert len(images) == len(captions) == 8
