# Cross-compile for x86_64-freebsd with zig cc (see zig.cmake).
set(CMAKE_SYSTEM_NAME FreeBSD)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(ZIG_TARGET x86_64-freebsd)
include(${CMAKE_CURRENT_LIST_DIR}/zig.cmake)
