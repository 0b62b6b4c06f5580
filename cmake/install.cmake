# What `cmake --install` puts where (GNUInstallDirs places, all relative to the prefix):
#   bin/                     ringwire-server, ringwire-load
#   include/ringwire/        the public headers (core's HEADERS file set: core/include only)
#   lib/                     libringwire (static unless BUILD_SHARED_LIBS)
#   lib/cmake/ringwire/      the CMake package: find_package(ringwire) -> ringwire::core
#   lib/pkgconfig/           ringwire.pc
#   share/man/man1/          the man pages, when help2man was found (see cmake/man.cmake)
#   share/doc/ringwire/      README, LICENSE, docs/
#   RINGWIRE_SYSTEMD_UNIT_DIR  every deploy/systemd/* unit (a NAME.in is configured first)
#   RINGWIRE_SYSCTL_DIR        every deploy/sysctl.d/*.conf
include(CMakePackageConfigHelpers)

set(RINGWIRE_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/ringwire" CACHE STRING
    "Where the CMake package goes (relative to the prefix)")
# Relative, so that a staged or --prefix install puts units under its own prefix; a distribution
# package sets /lib/systemd/system (pkg-config --variable=systemdsystemunitdir systemd).
set(RINGWIRE_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING "Where systemd units go")
set(RINGWIRE_SYSCTL_DIR "lib/sysctl.d" CACHE STRING "Where sysctl.d snippets go")

set(installed_binaries)
foreach(binary ringwire-server ringwire-load)
  if(TARGET ${binary})
    list(APPEND installed_binaries ${binary})
  endif()
endforeach()
install(TARGETS ${installed_binaries} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ringwire_core
  EXPORT ringwireTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  FILE_SET HEADERS DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT ringwireTargets NAMESPACE ringwire:: DESTINATION ${RINGWIRE_CMAKE_DIR})

# A static libringwire carries its private link dependencies into the consumer's link: the package
# config finds them again (liburing, when the io_uring backend is built in).
get_target_property(ringwire_core_type ringwire_core TYPE)
set(RINGWIRE_PACKAGE_NEEDS_URING OFF)
if(RINGWIRE_WITH_URING AND ringwire_core_type STREQUAL "STATIC_LIBRARY")
  set(RINGWIRE_PACKAGE_NEEDS_URING ON)
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ringwireConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ringwireConfig.cmake INSTALL_DESTINATION ${RINGWIRE_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ringwireConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ringwireConfig.cmake
              ${PROJECT_BINARY_DIR}/ringwireConfigVersion.cmake
        DESTINATION ${RINGWIRE_CMAKE_DIR})

# ringwire.pc finds its prefix from where it lies (${pcfiledir}), so it stays true under
# `cmake --install --prefix` and DESTDIR, which are decided after configuring.
set(pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(RINGWIRE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(RINGWIRE_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(RINGWIRE_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH pc_to_prefix "/root/${pc_dir}" "/root")
  set(RINGWIRE_PC_PREFIX "\${pcfiledir}/${pc_to_prefix}")
  set(RINGWIRE_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(RINGWIRE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# A static libringwire is linked with what it needs by every consumer, so those go in Requires and
# Libs (not .private), where a plain `pkg-config --libs ringwire` finds them.
set(RINGWIRE_PC_REQUIRES "fmt")
if(RINGWIRE_PACKAGE_NEEDS_URING)
  string(APPEND RINGWIRE_PC_REQUIRES " liburing")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/ringwire.pc.in ${PROJECT_BINARY_DIR}/ringwire.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ringwire.pc DESTINATION ${pc_dir})

install(FILES README.md LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")

# The hook for deployment files (another part of the tree adds them): each deploy/systemd/NAME is
# installed as a unit, NAME.in configured first with @CMAKE_INSTALL_FULL_BINDIR@. That happens at
# install time, so a unit names the binary where `cmake --install --prefix P` put it.
file(GLOB unit_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/deploy/systemd/*)
foreach(unit ${unit_files})
  get_filename_component(name ${unit} NAME)
  if(name MATCHES "^(.*)\\.in$")
    set(configured ${PROJECT_BINARY_DIR}/deploy/systemd/${CMAKE_MATCH_1})
    install(CODE "
      set(CMAKE_INSTALL_FULL_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
      configure_file(\"${unit}\" \"${configured}\" @ONLY)")
    set(unit ${configured})
  endif()
  install(FILES ${unit} DESTINATION ${RINGWIRE_SYSTEMD_UNIT_DIR})
endforeach()
file(GLOB sysctl_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/deploy/sysctl.d/*.conf)
if(sysctl_files)
  install(FILES ${sysctl_files} DESTINATION ${RINGWIRE_SYSCTL_DIR})
endif()
