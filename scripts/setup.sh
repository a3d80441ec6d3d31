#!/usr/bin/env bash
# Install everything napari-cathode needs on a fresh Debian machine (root, Python 3.11).
# Idempotent and fast on a second run: system packages are checked before apt runs, and the
# venv is reused while pyproject.toml and constraints.txt are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(xvfb xauth libgl1 libgl1-mesa-dri libegl1 libglx-mesa0 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0
  libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libfontconfig1 libdbus-1-3)

missing=()
for p in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
STAMP=.venv/.installed
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and pinned (constraints.txt): an unpinned resolve pulls several GB of CUDA wheels.
# This machine's pip config lists local index folders that may not exist; hide only those warnings.
quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
quiet .venv/bin/pip install -q -c constraints.txt "torch==2.13.0"
quiet .venv/bin/pip install -q -c constraints.txt -e ".[dev]"
# napari 0.9 deprecates PyQt5; a venv made before the move to PyQt6 must not keep both bindings.
if .venv/bin/python -c "import PyQt5" 2>/dev/null; then
  quiet .venv/bin/pip uninstall -y -q PyQt5 PyQt5-Qt5 PyQt5-sip
fi
echo "$want" > "$STAMP"
echo "[setup] .venv ready"
