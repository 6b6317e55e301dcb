# Sourced by the benchmark scripts: installs Debian's PyTorch (the baseline they measure against) if it is missing.
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench: installing Debian python3-torch (the PyTorch baseline)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update && $sudo apt-get install -y python3-torch libopenblas0-pthread
fi
