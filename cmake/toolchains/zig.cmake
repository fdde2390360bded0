# Shared part of the zig cross toolchains (zig-<target>.cmake set ZIG_TARGET,
# CMAKE_SYSTEM_NAME and CMAKE_SYSTEM_PROCESSOR, then include this file).
#
# `zig cc` is clang with the libc headers and link stubs of each target
# bundled, so no FreeBSD sysroot or macOS SDK is needed.
#
#   ZIG              zig executable (cache variable or environment); default:
#                    `zig` on PATH, then /opt/wgd-peers/bin/zig (scripts/setup.sh)
#   WGD_DEPS_PREFIX  where libsodium, libevent and libb2 were installed for
#                    this target (scripts/cross-deps.sh); pkg-config and
#                    find_* look only there.

# try_compile projects re-read this file: hand them the same settings.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ZIG WGD_DEPS_PREFIX)

if(NOT ZIG)
  if(DEFINED ENV{ZIG})
    set(ZIG "$ENV{ZIG}")
  else()
    find_program(ZIG zig HINTS /opt/wgd-peers/bin NO_CMAKE_FIND_ROOT_PATH)
  endif()
endif()
if(NOT ZIG)
  message(FATAL_ERROR "zig not found: run scripts/setup.sh or pass -DZIG=/path/to/zig")
endif()
set(ZIG "${ZIG}" CACHE FILEPATH "zig executable used as cross compiler")

set(CMAKE_C_COMPILER "${ZIG}" cc -target ${ZIG_TARGET})
set(CMAKE_ASM_COMPILER "${ZIG}" cc -target ${ZIG_TARGET})
# CMAKE_AR must be a single program; zig's archiver is a subcommand.
foreach(lang C ASM)
  set(CMAKE_${lang}_ARCHIVE_CREATE "\"${ZIG}\" ar qc <TARGET> <LINK_FLAGS> <OBJECTS>")
  set(CMAKE_${lang}_ARCHIVE_APPEND "\"${ZIG}\" ar q <TARGET> <LINK_FLAGS> <OBJECTS>")
  set(CMAKE_${lang}_ARCHIVE_FINISH "\"${ZIG}\" ranlib <TARGET>")
endforeach()

if(CMAKE_SYSTEM_NAME STREQUAL "Darwin")
  # No SDK: zig provides the headers and libSystem; keep CMake from
  # probing xcrun for one.
  set(CMAKE_OSX_SYSROOT "" CACHE PATH "" FORCE)
  set(CMAKE_OSX_DEPLOYMENT_TARGET "" CACHE STRING "" FORCE)
endif()

# Dependencies come from the target prefix only, never from the host.
if(WGD_DEPS_PREFIX)
  set(CMAKE_FIND_ROOT_PATH "${WGD_DEPS_PREFIX}")
  set(ENV{PKG_CONFIG_LIBDIR} "${WGD_DEPS_PREFIX}/lib/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# The deps are static archives: their private libraries (-pthread) are
# needed at link time.
set(PKG_CONFIG_ARGN --static)
