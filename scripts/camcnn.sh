#!/usr/bin/env bash
# camcnn.sh: set up (apt + NuGet), build in Release, and run camcnn with the given arguments. With none it runs the
# live app: the window (`run`) when there is a display, else the same pipeline in the terminal (`run --headless`,
# top classes once a second, Ctrl+C stops). No webcam: both use a moving test pattern and say so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dotnet build src/CameraCnn.App -c Release --no-restore --verbosity quiet >&2
app=(dotnet src/CameraCnn.App/bin/Release/net10.0/camcnn.dll)
if [ $# -gt 0 ]; then exec "${app[@]}" "$@"; fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "camcnn.sh: no display (DISPLAY and WAYLAND_DISPLAY are unset): running without a window; for the window use a desktop session or xvfb-run -a bash scripts/camcnn.sh run --frames 300 --screenshot shot.png" >&2
    exec "${app[@]}" run --headless
fi
exec "${app[@]}" run
