#!/usr/bin/env bash
# test.sh: set up (apt + NuGet) and run every test project in Release.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dotnet build CameraCnn.sln -c Release --no-restore --verbosity quiet
dotnet test CameraCnn.sln -c Release --no-build --verbosity quiet --logger "console;verbosity=normal" "$@"
