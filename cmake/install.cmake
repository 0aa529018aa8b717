# SPDX-License-Identifier: Apache-2.0
# `cmake --install BUILD [--prefix P]` (GNUInstallDirs; paths below are relative to the prefix):
#   bin/hybridgate, bin/hybridgate-relay                   the programs (HYBRIDGATE_BUILD_PROGRAMS)
#   LIBDIR/libhybridgate.so.0.2.0, .so.0 (soname), .so     the C ABI
#   LIBDIR/libhybridgate-sk.so                             the OpenSSH security-key provider
#                                                          (bridges/ssh/CMakeLists.txt installs it)
#   include/hybridgate/hybridgate.h, hybridgate.hpp        the C header and its C++17 façade
#   LIBDIR/pkgconfig/hybridgate.pc                         pkg-config (the C ABI)
#   LIBDIR/cmake/hybridgate/hybridgateConfig.cmake, ...ConfigVersion.cmake, targets
#                                                          find_package(hybridgate)
#   HYBRIDGATE_PAM_MODULE_DIR/pam_hybridgate.so             the PAM module (default LIBDIR/security;
#                                                          bridges/pam/CMakeLists.txt installs it)
#   share/man/man1/hybridgate.1, share/man/man8/hybridgate-relay.8, share/man/man3/libhybridgate.3
#   share/man/man8/pam_hybridgate.8                        (bridges/pam/CMakeLists.txt, with the module)
#   HYBRIDGATE_SYSTEMD_UNITDIR/hybridgate-relay.service    (ExecStart points at the installed relay)
#   HYBRIDGATE_SYSTEMD_UNITDIR/hybridgate-relay.socket     socket activation (not enabled by install)
#   share/doc/hybridgate/{relay.conf.example,LICENSE,README.md,*.md of docs/, images/}
#   HYBRIDGATE_SYSTEMD_USERUNITDIR/hybridgate-key.service   `hybridgate key` as a user unit
#   HYBRIDGATE_UDEV_RULESDIR/70-hybridgate-uhid.rules       /dev/uhid for the seat's user
#   HYBRIDGATE_MODULES_LOAD_DIR/hybridgate-uhid.conf        load uhid at boot
#                                                          (udev and modules-load.d read only /usr/lib
#                                                          and /etc: give absolute paths, or prefix /usr)
#   bin/hybridgate-native-host, its manual page, Firefox and Chromium manifests and the browser extension
#                                                          (component browser: bridges/browser/host/CMakeLists.txt)
include(CMakePackageConfigHelpers)

set(HYBRIDGATE_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit goes; relative paths are relative to the install prefix (systemd reads /usr/lib/systemd/system and /usr/local/lib/systemd/system)")
set(HYBRIDGATE_SYSTEMD_USERUNITDIR "lib/systemd/user" CACHE STRING
    "Where the user unit of `hybridgate key` goes (relative to the prefix unless absolute)")
set(HYBRIDGATE_UDEV_RULESDIR "lib/udev/rules.d" CACHE STRING
    "Where the udev rule for /dev/uhid goes (udev reads /usr/lib/udev/rules.d and /etc/udev/rules.d)")
set(HYBRIDGATE_MODULES_LOAD_DIR "lib/modules-load.d" CACHE STRING
    "Where the modules-load.d file for uhid goes (read from /usr/lib/modules-load.d and /etc/modules-load.d)")
set(HG_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/hybridgate)

# Programs.
foreach(prog hybridgate hybridgate-relay)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT programs)
  endif()
endforeach()

# The helpers `hybridgate` runs (git-style: `hybridgate key` -> hybridgate-key; hybridgate-pam-enroll
# is installed by bridges/pam) and the key's window.
foreach(prog hybridgate-key-window hybridgate-key hybridgate-key-show)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/hybridgate COMPONENT programs)
  endif()
endforeach()

# Libraries, headers, pkg-config and the CMake package (only when the C ABI is built).
if(TARGET hybridgate_c)
  install(TARGETS hybridgate_c EXPORT hybridgateTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(FILES ${PROJECT_SOURCE_DIR}/include/hybridgate/hybridgate.h ${PROJECT_SOURCE_DIR}/include/hybridgate/hybridgate.hpp
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hybridgate COMPONENT development)
  install(EXPORT hybridgateTargets NAMESPACE hybridgate:: DESTINATION ${HG_CMAKE_DIR} COMPONENT development)


  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hybridgateConfig.cmake.in
    ${PROJECT_BINARY_DIR}/hybridgateConfig.cmake INSTALL_DESTINATION ${HG_CMAKE_DIR})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/hybridgateConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/hybridgateConfig.cmake ${PROJECT_BINARY_DIR}/hybridgateConfigVersion.cmake
    DESTINATION ${HG_CMAKE_DIR} COMPONENT development)

  # pkg-config: prefix is computed from the .pc file's own location at install time, so
  # `cmake --install --prefix P` gives a correct file whatever the configured prefix was.
  foreach(d LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
      set(HG_PC_${d} "${CMAKE_INSTALL_${d}}")
    else()
      set(HG_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
    endif()
  endforeach()
  set(HG_PC_PREFIX "%HG_INSTALL_PREFIX%")  # replaced at install time (below)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/hybridgate.pc.in ${PROJECT_BINARY_DIR}/hybridgate.pc.in @ONLY)
  install(CODE "
    set(_p \"\${CMAKE_INSTALL_PREFIX}\")
    file(READ \"${PROJECT_BINARY_DIR}/hybridgate.pc.in\" _pc)
    string(REPLACE \"%HG_INSTALL_PREFIX%\" \"\${_p}\" _pc \"\${_pc}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/hybridgate.pc\" \"\${_pc}\")
  " COMPONENT development)
  install(FILES ${PROJECT_BINARY_DIR}/hybridgate.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)
endif()

# The Python package's source (pure Python over libhybridgate.so.0): `pip install
# PREFIX/share/hybridgate/python` works offline (its build backend is in the folder). docs/python.md.
if(TARGET hybridgate_c)
  install(FILES ${PROJECT_SOURCE_DIR}/python/pyproject.toml DESTINATION ${CMAKE_INSTALL_DATADIR}/hybridgate/python
    COMPONENT development)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/hybridgate ${PROJECT_SOURCE_DIR}/python/_backend
    DESTINATION ${CMAKE_INSTALL_DATADIR}/hybridgate/python COMPONENT development FILES_MATCHING PATTERN "*.py")
endif()

# Manual pages, the systemd unit, the example relay configuration, the licence.
if(HYBRIDGATE_BUILD_PROGRAMS)
  install(FILES ${PROJECT_SOURCE_DIR}/man/hybridgate.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT programs)
  install(FILES ${PROJECT_SOURCE_DIR}/man/hybridgate-relay.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT programs)
  # The unit's ExecStart names the relay where this install puts it (decided at install time).
  install(CODE "
    set(_unitdir \"${HYBRIDGATE_SYSTEMD_UNITDIR}\")
    if(NOT IS_ABSOLUTE \"\${_unitdir}\")
      set(_unitdir \"\${CMAKE_INSTALL_PREFIX}/\${_unitdir}\")
    endif()
    file(READ \"${PROJECT_SOURCE_DIR}/deploy/hybridgate-relay.service\" _unit)
    string(REPLACE \"/usr/local/bin/hybridgate-relay\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/hybridgate-relay\" _unit \"\${_unit}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/hybridgate-relay.service\" \"\${_unit}\")
    file(INSTALL DESTINATION \"\${_unitdir}\" TYPE FILE FILES \"${PROJECT_BINARY_DIR}/hybridgate-relay.service\"
         \"${PROJECT_SOURCE_DIR}/deploy/hybridgate-relay.socket\")
  " COMPONENT programs)
  install(FILES ${PROJECT_SOURCE_DIR}/deploy/relay.conf.example DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT programs)
  # hybridgate key: its user unit (ExecStart: the installed hybridgate), udev rule, modules-load file.
  install(CODE "
    set(_unitdir \"${HYBRIDGATE_SYSTEMD_USERUNITDIR}\")
    if(NOT IS_ABSOLUTE \"\${_unitdir}\")
      set(_unitdir \"\${CMAKE_INSTALL_PREFIX}/\${_unitdir}\")
    endif()
    file(READ \"${PROJECT_SOURCE_DIR}/deploy/key/hybridgate-key.service\" _unit)
    string(REPLACE \"/usr/local/bin/hybridgate\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/hybridgate\" _unit \"\${_unit}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/hybridgate-key.service\" \"\${_unit}\")
    file(INSTALL DESTINATION \"\${_unitdir}\" TYPE FILE FILES \"${PROJECT_BINARY_DIR}/hybridgate-key.service\")
  " COMPONENT programs)
  install(FILES ${PROJECT_SOURCE_DIR}/deploy/key/70-hybridgate-uhid.rules DESTINATION ${HYBRIDGATE_UDEV_RULESDIR}
    COMPONENT programs)
  install(FILES ${PROJECT_SOURCE_DIR}/deploy/key/hybridgate-uhid.conf DESTINATION ${HYBRIDGATE_MODULES_LOAD_DIR}
    COMPONENT programs)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
# docs/*.md (and the images they show), which the README, the manual pages and hybridgate.pc name:
# beside the README, so its links (docs/ssh.md, ...) resolve in the installed tree too.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime
  FILES_MATCHING PATTERN "*.md" PATTERN "*.png" PATTERN "*.svg")
if(TARGET hybridgate_c)
  install(FILES ${PROJECT_SOURCE_DIR}/man/libhybridgate.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT development)
endif()
