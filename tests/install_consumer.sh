#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# install_consumer.sh BUILD_DIR SOURCE_DIR - the installed package as consumers meet it:
# find_package(sparq) (shared and static, no pkg-config, consumer variables kept), pkg-config
# (shared, and static whole-archive, also from a library-only build with CLBlast off), each
# program run; and the benchmark programs installed as sparq-bench-<name>.
set -euo pipefail
build="$1"
src="$2"
work="$build/tests/tmp/install_consumer"
rm -rf "$work" && mkdir -p "$work/src"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
# the benchmark programs are installed under their sparq-bench- names (not run here)
if grep -qx 'SPARQ_BUILD_BENCH:BOOL=ON' "$build/CMakeCache.txt"; then
  for program in sparq-bench-linear sparq-bench-sparse sparq-bench-first-result; do
    [[ -x "$work/prefix/bin/$program" ]] || { echo "$program is not installed" >&2; exit 1; }
  done
fi

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
expect_version() { # PREFIX PROGRAM: runs PROGRAM against PREFIX's libraries
  LD_LIBRARY_PATH="$1/lib:$1/lib/x86_64-linux-gnu" "$2" | grep -qx "0.1.0 SPARQ_ERROR_OUT_OF_BOUNDS"
}
# The consumer keeps its own JANSSON_* variables and has no pkg-config; it links the shared
# library and, whole-archive where CMake can (3.24), the static one.
cat > "$work/src/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
set(JANSSON_FOUND "consumer's own")
set(JANSSON_LIBRARIES /consumer/libjansson.so)
find_package(sparq 0.1 REQUIRED)
if(NOT JANSSON_FOUND STREQUAL "consumer's own" OR
   NOT JANSSON_LIBRARIES STREQUAL "/consumer/libjansson.so")
  message(FATAL_ERROR "find_package(sparq) changed the consumer's JANSSON_FOUND "
                      "(${JANSSON_FOUND}) or JANSSON_LIBRARIES (${JANSSON_LIBRARIES})")
endif()
get_target_property(shared_deps sparq::sparq INTERFACE_LINK_LIBRARIES)
if(shared_deps MATCHES "PkgConfig::|sparq::_")
  message(FATAL_ERROR "sparq::sparq exports private dependencies: ${shared_deps}")
endif()
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE sparq::sparq)
add_executable(consumer_static main.c)
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.24)
  target_link_libraries(consumer_static PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,sparq::sparq_static>")
else()
  target_link_libraries(consumer_static PRIVATE sparq::sparq_static)
endif()
C
cmake -S "$work/src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON -DPKG_CONFIG_EXECUTABLE=/nonexistent \
  -DCMAKE_C_FLAGS="${SANITIZE_FLAGS:-}" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
expect_version "$work/prefix" "$work/cmake-build/consumer"
expect_static() { # PROGRAM: fails where PROGRAM loads libsparq.so
  if ldd "$1" | grep -q libsparq; then
    echo "$1 is linked to libsparq.so, not libsparq.a" >&2
    exit 1
  fi
}
expect_static "$work/cmake-build/consumer_static"
expect_version "$work/prefix" "$work/cmake-build/consumer_static"

pc() { # PREFIX ARGS...: pkg-config on PREFIX's sparq.pc
  local prefix="$1"
  shift
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig" pkg-config "$@"
}
${CC:-cc} "$work/src/main.c" -o "$work/pc-consumer" $(pc "$work/prefix" --cflags --libs sparq) \
  ${SANITIZE_FLAGS:-}
expect_version "$work/prefix" "$work/pc-consumer"

# A static link through pkg-config takes every object of libsparq.a (--whole-archive), so it
# needs each private library sparq.pc must name; it names CLBlast only when the build used it.
pc_static_consumer() { # PREFIX WITH_CLBLAST(ON|OFF) OUT
  local prefix="$1" with_clblast="$2" out="$3" libs names_clblast=OFF archive
  libs=$(pc "$prefix" --static --libs sparq)
  if [[ " $libs " == *" -lclblast "* ]]; then names_clblast=ON; fi
  if [[ "$names_clblast" != "$with_clblast" ]]; then
    echo "sparq.pc names -lclblast: $names_clblast; the build's CLBlast: $with_clblast ($libs)" >&2
    exit 1
  fi
  # -lsparq would take libsparq.so
  archive="$(pc "$prefix" --variable=libdir sparq)/libsparq.a"
  libs=${libs/-lsparq/-Wl,--whole-archive $archive -Wl,--no-whole-archive}
  ${CC:-cc} "$work/src/main.c" -o "$out" $(pc "$prefix" --static --cflags sparq) $libs \
    ${SANITIZE_FLAGS:-}
  expect_static "$out"
  expect_version "$prefix" "$out"
}
with_clblast=OFF
grep -qx 'SPARQ_WITH_CLBLAST:BOOL=ON' "$build/CMakeCache.txt" && with_clblast=ON
pc_static_consumer "$work/prefix" "$with_clblast" "$work/pc-static-consumer"

# The library alone with CLBlast off, in a folder kept between runs (rebuilds are incremental).
noclblast="$build/tests/tmp/install_consumer_noclblast"
cmake -S "$src" -B "$noclblast/build" -DSPARQ_WITH_CLBLAST=OFF -DSPARQ_BUILD_TESTS=OFF \
  -DSPARQ_BUILD_BENCH=OFF -DSPARQ_BUILD_TOOLS=OFF -DSPARQ_BUILD_FUZZERS=OFF >/dev/null
cmake --build "$noclblast/build" -j2 >/dev/null
rm -rf "$noclblast/prefix"
cmake --install "$noclblast/build" --prefix "$noclblast/prefix" >/dev/null
pc_static_consumer "$noclblast/prefix" OFF "$work/pc-static-noclblast-consumer"
echo "install consumer: find_package, pkg-config and static pkg-config links" \
  "(CLBlast $with_clblast and OFF) build and run"
