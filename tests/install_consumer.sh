#!/usr/bin/env bash
# install_consumer.sh BUILD_DIR - installs sparq from BUILD_DIR into a temporary prefix,
# then builds a tiny program against it twice: with CMake's find_package(sparq) and
# with pkg-config, and runs both (they print the linked version).
set -euo pipefail
build="$1"
work="$build/tests/tmp/install_consumer"
rm -rf "$work" && mkdir -p "$work/src"
cmake --install "$build" --prefix "$work/prefix" >/dev/null

cat > "$work/src/main.c" <<'C'
#include <sparq.h>
#include <stdio.h>
int main(void)
{
    sparq_context_options opts = {0};
    (void)opts;
    printf("%s %s\n", sparq_version_string(), sparq_status_string(SPARQ_ERROR_OUT_OF_BOUNDS));
    return 0;
}
C
cat > "$work/src/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(sparq 0.1 REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE sparq::sparq)
C
cmake -S "$work/src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_C_FLAGS="${SANITIZE_FLAGS:-}" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib/x86_64-linux-gnu" "$work/cmake-build/consumer" \
  | grep -qx "0.1.0 SPARQ_ERROR_OUT_OF_BOUNDS"

export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig"
cc "$work/src/main.c" -o "$work/pc-consumer" $(pkg-config --cflags --libs sparq) ${SANITIZE_FLAGS:-}
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib/x86_64-linux-gnu" "$work/pc-consumer" \
  | grep -qx "0.1.0 SPARQ_ERROR_OUT_OF_BOUNDS"
echo "install consumer: find_package and pkg-config both build and run"
