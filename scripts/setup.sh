#!/usr/bin/env bash
# Installs what deeplens needs on a fresh Debian/Ubuntu machine, only what is missing:
#  - FFmpeg development packages and the ffmpeg CLI, clang and pkg-config (apt);
#  - for `preview`'s window: libX11 and libXcursor (loaded at run time; building needs no X11
#    packages), and for its tests Xvfb, xauth, xwininfo (x11-utils) and xdotool (apt);
#  - for the farm tests a one-node Slurm (slurm-wlm, munge; apt), the Open Job Description
#    validator (PyPI's openjd-cli) and a Kubernetes manifest validator (PyPI's kubernetes-validate);
#  - the ONNX Runtime shared library, taken from the PyPI wheel `onnxruntime`, into .cache/onnxruntime.
# Usage: scripts/setup.sh [apt|ort|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
ORT_VERSION=${ORT_VERSION:-1.22.0}

apt_packages=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev pkg-config clang libclang-dev ffmpeg
  libx11-6 libxcursor1 xvfb xauth x11-utils xdotool
  slurm-wlm munge)

install_apt() {
  local missing=()
  for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  for tool in openjd:openjd-cli kubernetes-validate:kubernetes-validate; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || python3 -m pip install --quiet "${tool#*:}" \
      || python3 -m pip install --quiet --break-system-packages "${tool#*:}" \
      || echo "setup: could not install ${tool#*:}; tests/it/farm.rs then checks those job files by their fields only" >&2
  done
}

install_ort() {
  local dest=.cache/onnxruntime
  if ls "$dest"/libonnxruntime.so* >/dev/null 2>&1; then
    return 0
  fi
  echo "setup: fetching ONNX Runtime $ORT_VERSION (PyPI wheel onnxruntime) into $dest" >&2
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: "onnxruntime==$ORT_VERSION" -d "$tmp" \
    || python3 -m pip download --quiet --no-deps --only-binary=:all: onnxruntime -d "$tmp"
  mkdir -p "$dest"
  python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "onnxruntime-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    libs = [n for n in z.namelist() if os.path.basename(n).startswith("libonnxruntime.so")]
    for n in libs:
        target = os.path.join(dest, os.path.basename(n))
        with z.open(n) as src, open(target, "wb") as out:
            out.write(src.read())
    main = [n for n in libs if "providers" not in n][0]
    link = os.path.join(dest, "libonnxruntime.so")
    if os.path.basename(main) != "libonnxruntime.so":
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.basename(main), link)
print("setup: ONNX Runtime at", os.path.join(dest, os.path.basename(main)), file=sys.stderr)
PY
  rm -rf "$tmp"
}

case "$what" in
  apt) install_apt ;;
  ort) install_ort ;;
  all) install_apt; install_ort ;;
  *) echo "usage: $0 [apt|ort|all]" >&2; exit 2 ;;
esac
