#!/usr/bin/env bash
# Creates or updates the project's environments; re-running is cheap (stamp files).
#   scripts/setup.sh main   -> .venv      (Python 3.11: API, gateway, tests)
#   scripts/setup.sh rasa   -> .venv-rasa (Python 3.10: Rasa 3.6.21, rasa_sdk)
#   scripts/setup.sh system -> Debian packages: chromium + chromium-driver (browser tests), ffmpeg
#                              (voice notes), espeak-ng (offline speech), nginx (production profile),
#                              podman + runc + netavark/aardvark-dns + debootstrap + catatonit (the container images,
#                              `make images` / `make test-deploy`); axe-core from npm (the browser tests'
#                              accessibility audit)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-main}"

stamp_ok() {  # $1 stamp file, rest: inputs
  local stamp="$1"; shift
  [ -f "$stamp" ] && [ "$(cat "$@" | sha256sum)" = "$(cat "$stamp")" ]
}
write_stamp() { local stamp="$1"; shift; cat "$@" | sha256sum > "$stamp"; }

setup_main() {
  if stamp_ok .venv/.ksk-stamp requirements.lock pyproject.toml; then return; fi
  local py; py="$(scripts/find-python.sh 3.11 PYTHON)"
  echo "==> Môi trường chính .venv (Python 3.11: $py)"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check uv
  .venv/bin/uv pip install -q --python .venv/bin/python -r requirements.lock
  .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
  write_stamp .venv/.ksk-stamp requirements.lock pyproject.toml
}

setup_rasa() {
  setup_main
  if stamp_ok .venv-rasa/.ksk-stamp requirements-rasa.txt; then return; fi
  local py; py="$(scripts/find-python.sh 3.10 RASA_PYTHON)"
  echo "==> Môi trường Rasa .venv-rasa (Python 3.10: $py) — lần đầu mất khoảng một phút"
  [ -x .venv-rasa/bin/python ] || .venv/bin/uv venv -q --python "$py" .venv-rasa
  .venv/bin/uv pip install -q --python .venv-rasa/bin/python -r requirements-rasa.txt
  write_stamp .venv-rasa/.ksk-stamp requirements-rasa.txt
}

# podman 4.3 needs runc here (crun refuses this machine's cgroup setup; deploy/images/containers.conf
# chooses it), netavark with aardvark-dns for pods to reach each other by name, iptables for netavark, and
# catatonit, from which kube play builds its pause image ("finding pause binary" on a clean machine).
SYSTEM_PACKAGES=(chromium chromium-driver ffmpeg espeak-ng nginx podman runc netavark aardvark-dns iptables debootstrap
                 catatonit)
SYSTEM_COMMANDS=(chromium chromedriver ffmpeg espeak-ng /usr/sbin/nginx podman /usr/sbin/runc /usr/lib/podman/netavark
                 /usr/lib/podman/aardvark-dns /usr/sbin/iptables /usr/sbin/debootstrap catatonit)

setup_system() {
  local missing=()
  for i in "${!SYSTEM_COMMANDS[@]}"; do
    command -v "${SYSTEM_COMMANDS[$i]}" >/dev/null 2>&1 || missing+=("${SYSTEM_PACKAGES[$i]}")
  done
  if [ ${#missing[@]} -gt 0 ]; then install_debian "${missing[@]}"; fi
  setup_axe
}

# axe-core, pinned by tests/support/axe/package-lock.json, installed from the npm registry (npm ci).
setup_axe() {
  local dir=tests/support/axe
  if stamp_ok "$dir/node_modules/.ksk-stamp" "$dir/package-lock.json"; then return; fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "Thiếu npm (Node.js) để cài axe-core cho phép thử trợ năng." >&2
    return 1
  fi
  echo "==> axe-core (npm) cho phép thử trợ năng"
  npm ci --prefix "$dir" --no-audit --no-fund --silent
  write_stamp "$dir/node_modules/.ksk-stamp" "$dir/package-lock.json"
}

install_debian() {
  local missing=("$@")
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "Thiếu gói hệ thống: ${missing[*]} — cần quyền root để cài (apt-get install ${missing[*]})." >&2
      return 1
    fi
  fi
  echo "==> Cài gói hệ thống: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

case "$what" in
  main) setup_main ;;
  rasa) setup_rasa ;;
  system) setup_system ;;
  all) setup_main; setup_rasa; setup_system ;;
  *) echo "usage: scripts/setup.sh main|rasa|system|all" >&2; exit 2 ;;
esac
