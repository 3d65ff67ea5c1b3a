#!/usr/bin/env bash
# camcnn.sh: set up (apt + NuGet), build in Release, and run camcnn with the given arguments (none: `run`, the
# live window; without a display it says so in one line and suggests xvfb-run or --headless).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dotnet build src/CameraCnn.App -c Release --no-restore --verbosity quiet >&2
exec dotnet src/CameraCnn.App/bin/Release/net10.0/camcnn.dll "${@:-run}"
