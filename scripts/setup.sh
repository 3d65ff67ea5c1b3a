#!/usr/bin/env bash
# setup.sh: installs what camcnn and its tests need on Debian (apt packages), then restores NuGet packages.
# Safe to run repeatedly: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

# dataset-fashion-mnist: the IDX data set train/eval use; libgtk-3-0 (+ libatomic1, libdrm2): what
# OpenCvSharp's native runtime links against.
packages=(dataset-fashion-mnist libgtk-3-0 libatomic1 libdrm2)

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
