# Cross-compile a static x86_64-linux-musl wgd with zig cc (see zig.cmake):
# the small-router build (OpenWrt and friends run musl). Only the code that
# is used is linked: every function and object in its own section, unused
# sections dropped by the linker, no shared libraries to fault in.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(ZIG_TARGET x86_64-linux-musl)
include(${CMAKE_CURRENT_LIST_DIR}/zig.cmake)

set(CMAKE_C_FLAGS_INIT "-ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "-ffunction-sections -fdata-sections")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -Wl,--gc-sections")
