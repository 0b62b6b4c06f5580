# Man pages for the binaries, made from their own --help and --version by help2man at build time
# (so they cannot drift from the code) and installed in share/man/man1. Without help2man (Debian:
# help2man; tools/install-deps.sh installs it) the build goes on without them.
find_program(RINGWIRE_HELP2MAN help2man)
if(NOT RINGWIRE_HELP2MAN OR CMAKE_CROSSCOMPILING)
  message(STATUS "ringwire: no help2man, no man pages")
  return()
endif()

set(ringwire_man_descriptions
  "ringwire-server=framed TCP service: echo, discard or sized replies on one event loop per core"
  "ringwire-load=load generator and latency meter for servers speaking the ringwire framing")
include(GNUInstallDirs)
# Sections help2man cannot read from --help: where the docs are, and the server's exit statuses.
set(ringwire_man_include ${PROJECT_BINARY_DIR}/man/ringwire.h2m)
file(WRITE ${ringwire_man_include} "[SEE ALSO]
The README, the tuning guide (descriptors, backlog, ports, vm.max_map_count, memory per
connection) and the design notes: ${CMAKE_INSTALL_FULL_DOCDIR}/README.md, tuning.md, design.md.
")
set(ringwire_server_man_include ${PROJECT_BINARY_DIR}/man/ringwire-server.h2m)
file(WRITE ${ringwire_server_man_include} "[EXIT STATUS]
0 after a drain on SIGINT or SIGTERM; 1 when it cannot start (the address is in use, or the
open-file limit cannot hold the loops); 2 a bad flag or a value out of its bounds; 128 + the signal
when a second signal cuts the drain short.
")
file(READ ${ringwire_man_include} see_also)
file(APPEND ${ringwire_server_man_include} "${see_also}")
set(man_pages)
foreach(entry ${ringwire_man_descriptions})
  string(REPLACE "=" ";" entry "${entry}")
  list(GET entry 0 binary)
  list(GET entry 1 description)
  if(NOT TARGET ${binary})
    continue()
  endif()
  set(page ${PROJECT_BINARY_DIR}/man/${binary}.1)
  set(include ${ringwire_man_include})
  if(EXISTS ${PROJECT_BINARY_DIR}/man/${binary}.h2m)
    set(include ${PROJECT_BINARY_DIR}/man/${binary}.h2m)
  endif()
  add_custom_command(OUTPUT ${page}
    COMMAND ${RINGWIRE_HELP2MAN} --no-info --no-discard-stderr --section 1
            --name ${description} --include ${include} --output ${page} $<TARGET_FILE:${binary}>
    DEPENDS ${binary} ${include}
    COMMENT "man page ${binary}.1"
    VERBATIM)
  list(APPEND man_pages ${page})
endforeach()
if(man_pages)
  add_custom_target(ringwire_man ALL DEPENDS ${man_pages})
  if(RINGWIRE_INSTALL)
    install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  endif()
endif()
