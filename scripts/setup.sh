#!/usr/bin/env bash
# setup.sh: installs what camcnn and its tests need on Debian (apt packages), then restores NuGet packages.
# Safe to run repeatedly: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

# dataset-fashion-mnist: the IDX data set train/eval use; libgtk-3-0 (+ libatomic1, libdrm2): what
# OpenCvSharp's native runtime links against; darknet: real photos (/usr/share/darknet/data/*.jpg) the
# backbone tests compare against ONNX Runtime on; libonnx-testdata: the ONNX backend node tests
# (/usr/share/libonnx-testdata/data) the importer's conformance test runs; libglfw3 + libgl1-mesa-dri: the live
# window (GLFW 3, OpenGL 3.3 through Mesa); xvfb + xauth: the virtual display the window tests run it in.
packages=(dataset-fashion-mnist libgtk-3-0 libatomic1 libdrm2 darknet libonnx-testdata libglfw3 libgl1-mesa-dri xvfb xauth)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (https://dot.net)" >&2; exit 1; }
dotnet restore CameraCnn.sln --verbosity quiet
