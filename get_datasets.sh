#!/usr/bin/env bash
# Download the datasets the notebooks need into the kit's datasets/ folder (on Drive in Colab);
# DAVIS can be unzipped elsewhere (UNZIP_DIR: in Colab, the runtime's local disk).
# Run `bash get_datasets.sh --help` for usage; datasets/README.md describes each dataset.
set -euo pipefail

KIT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATASETS_DIR="${DATASETS_DIR:-$KIT_DIR/datasets}"
UNZIP_DIR="${UNZIP_DIR:-}"  # where DAVIS is unzipped; default: $DATASETS_DIR (set in main)
COCO_SELECTION="${COCO_SELECTION:-$KIT_DIR/datasets/coco_selection.json}"
PYTHON="${PYTHON:-python3}"
KEEP_ZIPS="${KEEP_ZIPS:-0}"
PROGRESS_SECONDS="${PROGRESS_SECONDS:-10}"  # seconds between progress lines when output is not a terminal
COCO_IDS=""  # filled from $COCO_SELECTION by get_coco

# The official addresses; each can be set to a mirror's (see datasets/README.md).
COCO_IMAGES_URL="${COCO_IMAGES_URL:-http://images.cocodataset.org/val2017}"
COCO_ANNOTATIONS_URL="${COCO_ANNOTATIONS_URL:-http://images.cocodataset.org/annotations/annotations_trainval2017.zip}"
COCO_CAPTIONS_MEMBER="annotations/captions_val2017.json"
DAVIS_URL="${DAVIS_URL:-https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip}"

COCO_CREDIT="COCO (Lin et al., ECCV 2014, https://cocodataset.org): annotations CC BY 4.0; images from Flickr under their owners' terms (each image's licence is kept in coco/captions.json)."
DAVIS_CREDIT="DAVIS 2017 (Pont-Tuset et al., 2017; Perazzi et al., CVPR 2016, https://davischallenge.org): CC BY 4.0."

usage() {
  cat <<EOF
Usage: bash get_datasets.sh [coco|davis|all]     (default: all)
       bash get_datasets.sh --help

Downloads what the notebooks need into \$DATASETS_DIR (default: the datasets/ folder next to
this script, i.e. on your Drive in Colab):
  coco   10 COCO val2017 images listed in datasets/coco_selection.json (about 2 MB) and their
         captions, taken from COCO's annotations_trainval2017.zip (241 MB, deleted afterwards)
         -> datasets/coco/<12-digit id>.jpg and datasets/coco/captions.json
  davis  DAVIS 2017 trainval 480p (about 800 MB download, about 12,400 files)
         -> datasets/DAVIS/{JPEGImages,Annotations,ImageSets}, or \$UNZIP_DIR/DAVIS when set
  all    both

What is already present and verified is skipped; an interrupted download resumes from its .part
file when run again. Sizes are compared with the server's Content-Length, zip archives are tested
before use. A server that refuses a file (an expired link: HTTP 403) or has none (404) is named
with its HTTP status. Needs curl (or wget), unzip and python3.

With UNZIP_DIR set to another folder (the notebooks do this in Colab: the runtime's local disk,
/content/datasets), the DAVIS zip is kept in \$DATASETS_DIR (on Drive) and unzipped into
\$UNZIP_DIR; when \$UNZIP_DIR/DAVIS is gone (a new runtime), the next run unzips the kept zip
again without downloading it. A complete \$DATASETS_DIR/DAVIS is still used as it is.

Progress: in a terminal, curl draws its progress bar. Otherwise (a Colab cell, a log file) every
line is a whole line: the large downloads and the DAVIS unzip print a progress line every
\$PROGRESS_SECONDS seconds (default 10) and every 2000 files.

Environment: DATASETS_DIR (where to put the data), UNZIP_DIR (where to unzip DAVIS; default
\$DATASETS_DIR), KEEP_ZIPS=1 (keep the downloaded zips), PYTHON (python interpreter, default
python3), PROGRESS_SECONDS, and DAVIS_URL, COCO_IMAGES_URL, COCO_ANNOTATIONS_URL (another address
to download from).

Credits: $COCO_CREDIT
         $DAVIS_CREDIT
EOF
}

die() {
  echo "get_datasets.sh: error: $*" >&2
  exit 1
}

file_size() {  # bytes of a file, 0 when it does not exist
  if [[ -f "$1" ]]; then wc -c <"$1" | tr -d ' '; else echo 0; fi
}

host_of() {  # https://host/path -> host
  local rest="${1#*://}"
  echo "${rest%%/*}"
}

network_failure() {  # host, url, the downloader's message
  die "cannot reach $1 (while fetching $2): check the network connection.
  In Colab: check the connection status at the top right, or use Runtime > Disconnect and delete
  runtime, reconnect, re-mount Drive and run this again. Behind a proxy, set https_proxy/http_proxy.
  No dataset was left half-installed; a partial download stays as a .part file and the next run
  resumes it.
  The downloader said: ${3:-nothing}"
}

# The variable that sets the address URL was downloaded from.
url_variable() {  # url
  case "$1" in
    "$DAVIS_URL") echo DAVIS_URL ;;
    "$COCO_ANNOTATIONS_URL") echo COCO_ANNOTATIONS_URL ;;
    *) echo COCO_IMAGES_URL ;;
  esac
}

# The HTTP status of the last response in curl -I or wget --server-response output, or nothing.
http_status() {  # the downloader's output
  tr -d '\r' <<<"$1" | awk '$1 ~ /^HTTP\// { code = $2 } END { print code }'
}

http_reason() {  # HTTP status -> its reason phrase (empty for the rest)
  case "$1" in
    401) echo " Unauthorized" ;; 403) echo " Forbidden" ;; 404) echo " Not Found" ;; 410) echo " Gone" ;;
    429) echo " Too Many Requests" ;;
  esac
}

server_failure() {  # url, HTTP status (may be empty), the downloader's message
  local url="$1" code="${2:-}" why
  local status="HTTP $code$(http_reason "$code")"
  case "$code" in
    401|403) why="the server refused the download of $url ($status):
  the link has expired, the file is no longer public, or the server does not serve this
  machine; running this again will not help" ;;
    404|410) why="the server has no file at $url ($status): it has moved" ;;
    429) why="the server turned the download of $url away ($status): wait a few minutes and
  run this again" ;;
    5??) why="the server failed to send $url ($status): it is having trouble; wait a few minutes
  and run this again (a partial download resumes)" ;;
    "") why="the server answered an error for $url" ;;
    *) why="the server answered $status for $url" ;;
  esac
  die "$why.
  datasets/README.md says where each dataset is published; to download from another address, set
  $(url_variable "$url")=<its URL> and run this again.
  The downloader said: ${3:-nothing}"
}

downloader() {
  if command -v curl >/dev/null 2>&1; then echo curl
  elif command -v wget >/dev/null 2>&1; then echo wget
  else die "neither curl nor wget is installed; install one (e.g. apt-get install curl) and re-run"
  fi
}

# Size in bytes announced by the server (Content-Length after redirects), empty if it sends none.
# Fails with a clear message when the host cannot be reached or answers an error.
remote_size() {
  local url="$1" headers status=0
  if [[ "$(downloader)" == curl ]]; then
    headers="$(curl -sSfIL --connect-timeout 30 --max-time 120 --retry 2 "$url" 2>&1)" || status=$?
    case "$status" in
      0) ;;
      22) server_failure "$url" "$(http_status "$headers")" "$(grep -m 1 '^curl: ' <<<"$headers" || true)" ;;
      *) network_failure "$(host_of "$url")" "$url" "$(tail -n 1 <<<"$headers")" ;;
    esac
  else
    headers="$(wget --spider --server-response --timeout=30 --tries=3 "$url" 2>&1)" || status=$?
    case "$status" in
      0) ;;
      8) server_failure "$url" "$(http_status "$headers")" "$(tail -n 1 <<<"$headers")" ;;
      *) network_failure "$(host_of "$url")" "$url" "$(tail -n 1 <<<"$headers")" ;;
    esac
  fi
  # the last Content-Length is the final response's (after redirects)
  tr -d '\r' <<<"$headers" | awk 'tolower($1) == "content-length:" { size = $2 } END { print size }'
}

megabytes() {  # bytes -> "12.3 MB"
  awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'
}

# While process PID runs, print a line with the size of FILE every $PROGRESS_SECONDS seconds.
report_progress() {  # pid file expected_bytes
  local pid="$1" file="$2" expected="$3" last="$SECONDS" size
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.2
    if (( SECONDS - last >= PROGRESS_SECONDS )); then
      last="$SECONDS"
      size="$(file_size "$file")"
      if [[ -n "$expected" && "$expected" -gt 0 ]]; then
        echo "  $(basename "$file"): $(megabytes "$size") of $(megabytes "$expected") ($((100 * size / expected))%)"
      else
        echo "  $(basename "$file"): $(megabytes "$size") so far"
      fi
    fi
  done
}

# Download URL into PART (resuming it); the downloader's exit status is returned, and curl's last
# HTTP status is written to the file http_status_file. Outside a terminal the downloader runs silently
# in the background and report_progress prints whole lines.
download() {  # url part expected_bytes quiet http_status_file
  local url="$1" part="$2" expected="$3" quiet="$4" http="$5" pid status=0
  local curl_options=(-fL --retry 3 --retry-delay 2 --connect-timeout 30 -C - -o "$part" -w '%{http_code}')
  if [[ "$(downloader)" == curl ]]; then
    if [[ -z "$quiet" && -t 1 ]]; then
      curl "${curl_options[@]}" --progress-bar "$url" >"$http" || status=$?
      return "$status"
    fi
    curl "${curl_options[@]}" -sS "$url" >"$http" &
  else
    if [[ -z "$quiet" && -t 1 ]]; then
      wget -c --timeout=30 --tries=3 -O "$part" "$url" || status=$?
      return "$status"
    fi
    wget -c --timeout=30 --tries=3 -q -O "$part" "$url" &
  fi
  pid=$!
  [[ -n "$quiet" ]] || report_progress "$pid" "$part" "$expected"
  wait "$pid" || status=$?
  return "$status"
}

# Unzip ZIP into DIR, printing a line every 2000 files (unzip -q would be silent for minutes).
unzip_with_progress() {  # zip dir
  unzip -o "$1" -d "$2" | awk '/^ *(inflating|extracting):/ { n++; if (n % 2000 == 0) { printf "  unzipped %d files ...\n", n; fflush() } }
    END { printf "  unzipped %d files\n", n }'
}

# fetch URL DEST [quiet]: download into DEST.part (resuming it), check the size, then move to DEST.
fetch() {
  local url="$1" dest="$2" quiet="${3:-}" part="$2.part" expected status=0 http code
  expected="$(remote_size "$url")"
  if [[ -f "$dest" && -n "$expected" && "$(file_size "$dest")" == "$expected" ]]; then
    return 0
  fi
  rm -f "$dest"
  if [[ -n "$expected" && "$(file_size "$part")" -gt "$expected" ]]; then
    rm -f "$part"  # larger than the file on the server: not a prefix of it
  fi
  if [[ -z "$expected" || "$(file_size "$part")" != "$expected" ]]; then
    if [[ -z "$quiet" ]]; then
      local size_text="unknown size"
      [[ -z "$expected" ]] || size_text="$(megabytes "$expected")"
      echo "  downloading $url ($size_text) -> $dest"
    fi
    http="$(mktemp)"
    download "$url" "$part" "$expected" "$quiet" "$http" || status=$?
    code="$(tr -dc '0-9' <"$http")"
    rm -f "$http"
    if [[ "$(downloader)" == curl ]]; then
      [[ "$status" != 22 ]] || server_failure "$url" "$code" "curl exit 22"
    else
      [[ "$status" != 8 ]] || server_failure "$url" "" "wget exit 8"
    fi
    [[ "$status" == 0 ]] || network_failure "$(host_of "$url")" "$url" "exit status $status (its message is above)"
  fi
  if [[ -n "$expected" && "$(file_size "$part")" != "$expected" ]]; then
    die "$part has $(file_size "$part") bytes but the server announced $expected for $url.
  Delete $part and run this again."
  fi
  mv "$part" "$dest"
}

require_python() {
  command -v "$PYTHON" >/dev/null 2>&1 || die "python3 is needed to read $COCO_SELECTION and the COCO captions; install it or set PYTHON=/path/to/python"
}

# Image ids of the COCO selection, one per line, in the notebook's order.
coco_ids() {
  [[ -f "$COCO_SELECTION" ]] || die "missing $COCO_SELECTION (the list of COCO ids); restore it from the kit"
  "$PYTHON" - "$COCO_SELECTION" <<'PY'
import json, sys
for image in json.load(open(sys.argv[1]))["images"]:
    print(int(image["id"]))
PY
}

is_jpeg() {  # a complete JPEG starts with FF D8 and ends with FF D9
  [[ "$(od -An -tx1 -N2 "$1" | tr -d ' \n')" == "ffd8" ]] &&
    [[ "$(tail -c 2 "$1" | od -An -tx1 | tr -d ' \n')" == "ffd9" ]]
}

# True when datasets/coco/captions.json has captions for every selected image.
coco_captions_verified() {
  [[ -f "$DATASETS_DIR/coco/captions.json" ]] || return 1
  "$PYTHON" - "$COCO_SELECTION" "$DATASETS_DIR/coco/captions.json" <<'PY'
import json, sys
wanted = [int(image["id"]) for image in json.load(open(sys.argv[1]))["images"]]
try:
    have = {int(image["id"]): image for image in json.load(open(sys.argv[2]))["images"]}
except (ValueError, KeyError, TypeError):
    sys.exit(1)
sys.exit(0 if all(have.get(i, {}).get("captions") for i in wanted) else 1)
PY
}

# True when datasets/coco holds every selected image (a whole JPEG) and captions for them.
coco_verified() {
  local id path
  for id in $COCO_IDS; do
    path="$DATASETS_DIR/coco/$(printf '%012d' "$id").jpg"
    [[ -f "$path" ]] && is_jpeg "$path" || return 1
  done
  coco_captions_verified
}

# Keep only the selected images' captions (and licences) from COCO's captions_val2017.json.
extract_coco_captions() {  # captions_val2017.json -> captions.json
  "$PYTHON" - "$COCO_SELECTION" "$1" "$2" "$COCO_CREDIT" <<'PY'
import json, sys
selection_path, annotations_path, out_path, credit = sys.argv[1:5]
selection = json.load(open(selection_path))["images"]
coco = json.load(open(annotations_path))
images = {image["id"]: image for image in coco["images"]}
licenses = {lic["id"]: lic for lic in coco["licenses"]}
captions = {}
for annotation in coco["annotations"]:
    captions.setdefault(annotation["image_id"], []).append(annotation)
missing = [int(s["id"]) for s in selection if not captions.get(int(s["id"]))]
if missing:
    sys.exit(f"these selected ids have no caption in captions_val2017.json: {missing}; "
             "fix datasets/coco_selection.json (ids are COCO val2017 image ids)")
out = []
for chosen in selection:
    image_id = int(chosen["id"])
    image = images.get(image_id, {})
    recorded = (chosen.get("height"), chosen.get("width"))
    found = (image.get("height"), image.get("width"))
    if None not in recorded and recorded != found:
        sys.exit(f"id {image_id}: the annotations say height x width = {found} but "
                 f"coco_selection.json recorded {recorded}; the selection may hold a wrong id")
    license = licenses.get(image.get("license"), {})
    out.append({
        "id": image_id,
        "file_name": image.get("file_name", f"{image_id:012d}.jpg"),
        "height": image.get("height"), "width": image.get("width"),
        "coco_url": image.get("coco_url"), "flickr_url": image.get("flickr_url"),
        "license": license.get("name"), "license_url": license.get("url"),
        "captions": [{"id": a["id"], "caption": a["caption"].strip()}
                     for a in sorted(captions[image_id], key=lambda a: a["id"])],
    })
json.dump({"source": "COCO 2017 val, captions_val2017.json", "credit": credit, "images": out},
          open(out_path, "w"), indent=2)
PY
}

# Download COCO's annotations zip, keep the selection's captions in coco/captions.json.
get_coco_captions() {
  local dir="$DATASETS_DIR/coco" zip="$DATASETS_DIR/annotations_trainval2017.zip"
  echo "coco: fetching the captions (annotations_trainval2017.zip, 241 MB) ..."
  fetch "$COCO_ANNOTATIONS_URL" "$zip"
  if ! unzip -tq "$zip" >/dev/null 2>&1; then
    rm -f "$zip"
    die "$zip is corrupt (unzip -t failed) and was deleted; run this again"
  fi
  unzip -p "$zip" "$COCO_CAPTIONS_MEMBER" >"$dir/.captions_val2017.json" ||
    die "$zip has no $COCO_CAPTIONS_MEMBER; is it COCO's annotations_trainval2017.zip?"
  if ! extract_coco_captions "$dir/.captions_val2017.json" "$dir/captions.json.tmp"; then
    rm -f "$dir/.captions_val2017.json" "$dir/captions.json.tmp"
    die "could not build $dir/captions.json (see above)"
  fi
  mv "$dir/captions.json.tmp" "$dir/captions.json"
  rm -f "$dir/.captions_val2017.json"
  [[ "$KEEP_ZIPS" == 1 ]] || rm -f "$zip"
  echo "  wrote the captions of the selected images to $dir/captions.json"
}

get_coco() {
  local dir="$DATASETS_DIR/coco" id name
  require_python
  echo "coco: $COCO_CREDIT"
  COCO_IDS="$(coco_ids)"
  [[ -n "$COCO_IDS" ]] || die "$COCO_SELECTION lists no images"
  if coco_verified; then
    echo "coco: already present and verified in $dir; nothing to download."
    return 0
  fi
  mkdir -p "$dir"
  echo "coco: fetching $(wc -w <<<"$COCO_IDS" | tr -d ' ') val2017 images from images.cocodataset.org ..."
  for id in $COCO_IDS; do
    name="$(printf '%012d' "$id").jpg"
    fetch "$COCO_IMAGES_URL/$name" "$dir/$name" quiet
    is_jpeg "$dir/$name" || { rm -f "$dir/$name"; die "$COCO_IMAGES_URL/$name is not a complete JPEG; run this again"; }
  done
  if coco_captions_verified; then
    echo "coco: captions.json already covers the selection."
  else
    get_coco_captions
  fi
  coco_verified || die "coco: $dir is still incomplete after downloading; run this again"
  echo "coco: done: $dir"
}

# True when ROOT has every sequence of ImageSets/2017/{train,val}.txt with frames and masks.
davis_verified() {  # root
  local root="$1" split sequence
  for split in train val; do
    [[ -s "$root/ImageSets/2017/$split.txt" ]] || return 1
    while read -r sequence; do
      [[ -z "$sequence" ]] && continue
      compgen -G "$root/JPEGImages/480p/$sequence/*.jpg" >/dev/null || return 1
      compgen -G "$root/Annotations/480p/$sequence/*.png" >/dev/null || return 1
    done <"$root/ImageSets/2017/$split.txt"
  done
}

get_davis() {
  local root="$UNZIP_DIR/DAVIS" on_drive="$DATASETS_DIR/DAVIS" zip="$DATASETS_DIR/DAVIS-2017-trainval-480p.zip"
  local unpack="$UNZIP_DIR/DAVIS-unzip.part" found keep_zip="$KEEP_ZIPS"  # *.part: ignored by git
  [[ "$UNZIP_DIR" == "$DATASETS_DIR" ]] || keep_zip=1  # unzipped elsewhere: the zip is the cache to unzip again
  echo "davis: $DAVIS_CREDIT"
  if davis_verified "$root"; then
    echo "davis: already present and verified in $root; nothing to download."
    return 0
  fi
  if [[ "$root" != "$on_drive" ]] && davis_verified "$on_drive"; then
    echo "davis: already present and verified in $on_drive; nothing to download. (It was unzipped there by"
    echo "  an earlier version of the kit; reading it there is slower than from $UNZIP_DIR. Delete it to"
    echo "  have the next run unzip DAVIS into $UNZIP_DIR instead.)"
    return 0
  fi
  if [[ -e "$root" ]]; then  # never overwrite a folder this script did not finish
    die "$root exists but is not a complete DAVIS 2017 trainval (every sequence of
  ImageSets/2017/{train,val}.txt needs JPEGImages/480p/<seq>/*.jpg and Annotations/480p/<seq>/*.png).
  Move it away or delete it, then run this again."
  fi
  command -v unzip >/dev/null 2>&1 || die "unzip is needed (e.g. apt-get install unzip)"
  if [[ -f "$zip" ]]; then  # only a download whose size matched the server's is ever named *.zip
    echo "davis: using the zip kept in $zip (no download)"
  else
    echo "davis: fetching DAVIS 2017 trainval 480p (about 800 MB) ..."
    fetch "$DAVIS_URL" "$zip"
  fi
  echo "davis: testing the archive ..."
  if ! unzip -tq "$zip" >/dev/null 2>&1; then
    rm -f "$zip"
    die "$zip is corrupt (unzip -t failed) and was deleted; run this again"
  fi
  rm -rf "$unpack"
  if [[ "$UNZIP_DIR" == "$DATASETS_DIR" ]]; then
    echo "davis: unzipping into $UNZIP_DIR (about 12,400 files; minutes on Drive) ..."
  else
    echo "davis: unzipping into $UNZIP_DIR (about 12,400 files) ..."
  fi
  unzip_with_progress "$zip" "$unpack" || die "could not unzip $zip (is the disk full?)"
  found="$(find "$unpack" -maxdepth 3 -type d -name JPEGImages | head -n 1)"
  [[ -n "$found" ]] || die "$zip holds no JPEGImages folder; is it DAVIS-2017-trainval-480p.zip?"
  mv "$(dirname "$found")" "$root"
  rm -rf "$unpack"
  davis_verified "$root" || die "$root lacks JPEGImages/480p, Annotations/480p or ImageSets/2017 after unzipping"
  if [[ "$keep_zip" == 1 ]]; then
    [[ "$UNZIP_DIR" == "$DATASETS_DIR" ]] ||
      echo "davis: kept $zip: when $root is gone (a new runtime), the next run unzips it again, without downloading"
  else
    rm -f "$zip"
  fi
  echo "davis: done: $root ($(ls "$root/JPEGImages/480p" | wc -l | tr -d ' ') sequences)"
}

main() {
  local target="${1:-all}"
  case "$target" in
    -h|--help|help) usage; return 0 ;;
    coco|davis|all) ;;
    *) { echo "get_datasets.sh: unknown dataset '$target'"; echo; usage; } >&2; return 2 ;;
  esac
  [[ $# -le 1 ]] || { { echo "get_datasets.sh: one dataset at a time, got: $*"; echo; usage; } >&2; return 2; }
  downloader >/dev/null  # fails here, clearly, when neither curl nor wget exists
  mkdir -p "$DATASETS_DIR"
  DATASETS_DIR="$(cd "$DATASETS_DIR" && pwd)"
  if [[ -z "$UNZIP_DIR" ]]; then
    UNZIP_DIR="$DATASETS_DIR"
  else
    mkdir -p "$UNZIP_DIR"
    UNZIP_DIR="$(cd "$UNZIP_DIR" && pwd)"
  fi
  case "$target" in
    coco) get_coco ;;
    davis) get_davis ;;
    all) get_coco; get_davis ;;
  esac
}

main "$@"
