# Installation of everything but the binary (which CMakeLists.txt installs),
# and packages. Included at the end of CMakeLists.txt:
#
#   include(cmake/packaging.cmake)
#
#   all systems  man page wgd(8) (regenerated from the --help text when
#                Python 3 is found, else docs/wgd.8), docs in share/doc/wgd
#   FreeBSD      the rc.d script (etc/rc.d/wgd: /usr/local/etc/rc.d/wgd with
#                the default prefix)
#   macOS        a launchd job for one interface, installed disabled in
#                WGD_LAUNCHD_DIR (/Library/LaunchDaemons)
#
# (The systemd unit is installed by CMakeLists.txt.) `cpack` in the build
# directory builds a .deb on Linux (dependencies from dpkg-shlibdeps), a
# .tar.gz elsewhere. Packages install under CMAKE_INSTALL_PREFIX, the prefix
# the unit, rc.d script and launchd job name the binary by: configure with
# -DCMAKE_INSTALL_PREFIX=/usr for a Debian-style package.
include(GNUInstallDirs)

set(WGD_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/wireguard" CACHE PATH
    "Where the FreeBSD rc.d script looks for <interface>.conf")
if(CMAKE_SYSTEM_NAME STREQUAL "Darwin" AND CMAKE_SYSTEM_PROCESSOR MATCHES "arm64|aarch64")
  set(_wgd_tools_bindir /opt/homebrew/bin) # Homebrew on Apple silicon
else()
  set(_wgd_tools_bindir /usr/local/bin)    # FreeBSD ports, Homebrew on Intel
endif()
set(WGD_WG "${_wgd_tools_bindir}/wg" CACHE FILEPATH "wg(8) used by the rc.d script")
set(WGD_WG_QUICK "${_wgd_tools_bindir}/wg-quick" CACHE FILEPATH
    "wg-quick(8) run by the launchd job")
set(WGD_LAUNCHD_DIR /Library/LaunchDaemons CACHE PATH "Where the launchd job is installed")
set(WGD_LAUNCHD_INTERFACE wg0 CACHE STRING "Interface of the launchd job")
set(WGD_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")

# --- man page: one source with `wgd --help` ---
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/wgd.8
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/gen-man.py
            -o ${CMAKE_BINARY_DIR}/wgd.8
    DEPENDS ${CMAKE_SOURCE_DIR}/scripts/gen-man.py ${CMAKE_SOURCE_DIR}/cmd/wgd/main.c
            ${CMAKE_SOURCE_DIR}/docs/wgd.8.in ${CMAKE_SOURCE_DIR}/CMakeLists.txt
    COMMENT "Rendering wgd(8) from the --help text")
  add_custom_target(wgd-man ALL DEPENDS ${CMAKE_BINARY_DIR}/wgd.8)
  install(FILES ${CMAKE_BINARY_DIR}/wgd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
  if(WGD_TESTS)
    # The committed docs/wgd.8 (read on the web, used without Python) must
    # match the help text.
    add_test(NAME man_page_current
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/gen-man.py --check)
  endif()
else()
  install(FILES ${CMAKE_SOURCE_DIR}/docs/wgd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endif()

install(FILES ${CMAKE_SOURCE_DIR}/docs/operations.md ${CMAKE_SOURCE_DIR}/docs/design.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)

# --- services, each on its own system ---
if(CMAKE_SYSTEM_NAME STREQUAL "FreeBSD")
  configure_file(${CMAKE_SOURCE_DIR}/docs/wgd.rc.in ${CMAKE_BINARY_DIR}/wgd.rc @ONLY)
  install(PROGRAMS ${CMAKE_BINARY_DIR}/wgd.rc DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/rc.d
          RENAME wgd)
elseif(CMAKE_SYSTEM_NAME STREQUAL "Darwin")
  set(_wgd_plist com.wgd.${WGD_LAUNCHD_INTERFACE}.plist)
  configure_file(${CMAKE_SOURCE_DIR}/docs/com.wgd.plist.in ${CMAKE_BINARY_DIR}/${_wgd_plist}
                 @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/${_wgd_plist} DESTINATION ${WGD_LAUNCHD_DIR})
endif()

# --- packages ---
set(CPACK_PACKAGE_NAME wgd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "portable userspace WireGuard daemon")
set(CPACK_PACKAGE_DESCRIPTION
    "wgd creates a TUN interface and serves the standard WireGuard control socket, so wg(8) and wg-quick(8) configure it as they configure the kernel module or wireguard-go.")
set(CPACK_PACKAGE_CONTACT "wgd developers <wgd-devel@example.org>" CACHE STRING
    "Maintainer field of the packages")
set(CPACK_STRIP_FILES TRUE)
set(CPACK_SOURCE_IGNORE_FILES "/build[^/]*/" "/\\\\.git/")
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(CPACK_GENERATOR DEB)
  set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
  if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    message(STATUS "cpack: the .deb will install under ${CMAKE_INSTALL_PREFIX} "
                   "(-DCMAKE_INSTALL_PREFIX=/usr for a Debian-style package)")
  endif()
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_SECTION net)
  set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS wireguard-tools)
  set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/cmake/debian/postinst
                                        ${CMAKE_SOURCE_DIR}/cmake/debian/postrm)
  set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
else()
  set(CPACK_GENERATOR TGZ)
endif()
include(CPack)
