#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# spdx_test.sh SOURCE_DIR - every source file of the tree (C, OpenCL, C++, Python, shell,
# CMake, pkg-config and TOML; tracked by git, or found when the tree is no checkout)
# names its license, Apache-2.0 (LICENSE), in an SPDX line within its first three lines.
set -uo pipefail
cd "$1" || exit 1
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files)
else
  files=$(find . -path ./build\* -prune -o -type f -print | sed 's|^\./||')
fi
missing=0 checked=0
while IFS= read -r f; do
  case "$f" in
    *.c|*.h|*.cl|*.clh|*.cpp|*.py|*.sh|*.cmake|*.in|*.toml|*.supp|CMakeLists.txt|*/CMakeLists.txt|.ci/run) ;;
    *) continue ;;
  esac
  checked=$((checked + 1))
  if ! head -3 "$f" | grep -q "SPDX-License-Identifier: Apache-2.0"; then
    echo "no SPDX line: $f"
    missing=$((missing + 1))
  fi
done <<<"$files"
echo "spdx: $checked source files checked, $missing without an SPDX line"
[ "$checked" -gt 100 ] && [ "$missing" -eq 0 ]
