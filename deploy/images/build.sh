#!/usr/bin/env bash
# Builds every image of deploy/images with podman (`make images`); layers are cached between runs, so a
# second run rebuilds only what changed (the model alone after `make train`).
#   IMAGE_TAG        tag of every image (default latest)
#   MAIN_BASE        base of the main image (default: localhost/khamsuckhoe-base:bookworm, made here)
#   RASA_BASE        base of the Rasa image (same default); e.g. registry.example/python:3.10-slim
#   RASA_PYTHON_PREFIX  the Python 3.10 copied into the Rasa image (default: the one
#                    scripts/find-python.sh finds; with RASA_BASE set and this unset, the base's own)
#   PROXY_CA_BUNDLE  CA bundle for HTTPS from inside the build (default: $SSL_CERT_FILE, pip's
#                    $PIP_CERT or Debian's bundle); mounted as a build secret, never stored in a layer
#   IMAGES           which to build (default: main rasa postgres redis balancer)
#   NO_CACHE=1       build every layer again (a cold build's time; the base is kept)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/images/containers.conf}"
tag="${IMAGE_TAG:-latest}"
base=localhost/khamsuckhoe-base:bookworm
main_base="${MAIN_BASE:-$base}"
rasa_base="${RASA_BASE:-$base}"
images="${IMAGES:-main rasa postgres redis balancer}"

ca=""
for candidate in "${PROXY_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$candidate" ] && [ -s "$candidate" ]; then ca="$candidate"; break; fi
done
secret=()
[ -n "$ca" ] && secret=(--secret "id=proxy-ca,src=$ca")

if [ "$main_base" = "$base" ] || [ "$rasa_base" = "$base" ]; then
  start=$SECONDS
  deploy/images/build-base.sh
  echo "==> base: $((SECONDS - start)) s"
fi

python_context() {
  if [ -n "${RASA_PYTHON_PREFIX:-}" ]; then echo "$RASA_PYTHON_PREFIX"; return; fi
  if [ "$rasa_base" != "$base" ]; then echo deploy/images/empty; return; fi
  local python prefix
  python="$(readlink -f "$(scripts/find-python.sh 3.10 RASA_PYTHON)")"
  prefix="$(dirname "$(dirname "$python")")"
  # A prefix of its own (pyenv, python-build-standalone, /opt/python3.10): never a system's /usr.
  if [ "$prefix" = /usr ] || [ ! -d "$prefix/lib/python3.10" ]; then
    echo "Python 3.10 at $python is not in a prefix of its own: set RASA_PYTHON_PREFIX (README)." >&2
    return 1
  fi
  # Staged without its test suite, caches (running Python 3.10 writes __pycache__ there, which would make
  # every warm build copy it again), static library and what it installed itself (pip, uv).
  local staged=var/images/python3.10
  rm -rf "$staged" && mkdir -p "$staged"
  tar -C "$prefix" --exclude=__pycache__ --exclude=./lib/python3.10/test --exclude=./lib/python3.10/idlelib \
    --exclude=./lib/python3.10/tkinter --exclude=./lib/python3.10/site-packages --exclude='*.a' \
    --exclude=./bin/pip* --exclude=./bin/uv* -cf - . | tar -C "$staged" -xf -
  echo "$staged"
}

build() {  # name, then podman build arguments
  local name="$1"; shift
  local start=$SECONDS
  local cache=(--layers)
  [ "${NO_CACHE:-}" = 1 ] && cache=(--no-cache)
  podman build --quiet "${cache[@]}" --ignorefile deploy/images/containerignore \
    -f "deploy/images/Containerfile.$name" -t "localhost/khamsuckhoe-$name:$tag" "$@" . >/dev/null
  local size
  size="$(podman image inspect --format '{{.Size}}' "localhost/khamsuckhoe-$name:$tag")"
  printf '==> khamsuckhoe-%s:%s: %d s, %d MB\n' "$name" "$tag" $((SECONDS - start)) $((size / 1000000))
}

for name in $images; do
  case "$name" in
    main) build main --build-arg "BASE=$main_base" "${secret[@]}" ;;
    rasa)
      if [ ! -s models/bot.tar.gz ]; then
        echo "No trained model in models/bot.tar.gz: run \`make train\` first." >&2
        exit 1
      fi
      build rasa --build-arg "BASE=$rasa_base" --build-context "python=$(python_context)" "${secret[@]}" ;;
    postgres | redis | balancer) build "$name" --build-arg "BASE=$base" ;;
    *) echo "unknown image: $name" >&2; exit 2 ;;
  esac
done
