#!/usr/bin/env bash
# Prints the path of a Python interpreter of the wanted minor version, or fails with a clear
# message. Order: the override variable, the distribution's own build (3.11), the plain name on PATH, then
# pyenv's installs.
#   scripts/find-python.sh 3.11 PYTHON      scripts/find-python.sh 3.10 RASA_PYTHON
# The distribution's build first: Debian compiles CPython with profile-guided and link-time optimisation,
# pyenv by default with neither. Measured on this machine (issue 21): a pure-Python loop 1.29× faster on
# Debian's 3.11 than on pyenv's; the production profile's gateway and API used 0.94× the CPU per message,
# all services 0.97× (bench/scale.py --roots … --together, 12 rounds). The container images use it already
# (deploy/images/Containerfile.main, on its default base).
set -euo pipefail
want="$1"; override_var="$2"
override="${!override_var:-}"

works() { "$1" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' else 1)" 2>/dev/null; }

if [ -n "$override" ]; then
  if works "$override"; then echo "$override"; exit 0; fi
  echo "Lỗi: $override_var=$override không phải Python $want." >&2; exit 1
fi
distribution="/usr/bin/python$want"
# …for the main environment's 3.11 only, when it can make a virtual environment with pip (Debian's
# python3.11-venv; else the next candidate). Rasa's 3.10 is copied into its image as a prefix of its own
# (deploy/images/build.sh), which a distribution's /usr is not.
if [ "$want" = 3.11 ] && [ -x "$distribution" ] && works "$distribution" \
    && "$distribution" -c "import ensurepip" 2>/dev/null; then
  echo "$distribution"; exit 0
fi
if command -v "python$want" >/dev/null 2>&1 && works "python$want"; then command -v "python$want"; exit 0; fi
root="${PYENV_ROOT:-$HOME/.pyenv}"
if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root)"; fi
for candidate in $(ls -d "$root"/versions/"$want".*/bin/python"$want" 2>/dev/null | sort -V -r); do
  if works "$candidate"; then echo "$candidate"; exit 0; fi
done
echo "Lỗi: không tìm thấy Python $want. Cài bằng 'pyenv install $want' hoặc đặt $override_var=/đường/dẫn/python$want." >&2
exit 1
