# Records the git revision so every result file can name the code that made it. Refreshed at every
# build, not only at configure time: a build directory configured at one commit and rebuilt at a
# later one otherwise stamps its results with the earlier commit. The header is rewritten only when
# the revision changes (configure_file leaves an identical file alone), so an unchanged tree
# recompiles nothing.
if(CMAKE_SCRIPT_MODE_FILE)  # cmake -P: the build-time step below
  execute_process(COMMAND git describe --always --dirty --abbrev=12
    WORKING_DIRECTORY ${FABENCH_SOURCE_DIR}
    OUTPUT_VARIABLE FABENCH_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT FABENCH_GIT_REVISION)
    set(FABENCH_GIT_REVISION "unknown")
  endif()
  configure_file(${FABENCH_SOURCE_DIR}/src/version.hpp.in ${FABENCH_VERSION_HEADER} @ONLY)
  return()
endif()

set(FABENCH_VERSION_HEADER ${CMAKE_CURRENT_BINARY_DIR}/generated/version.hpp)
add_custom_target(fabench_version
  COMMAND ${CMAKE_COMMAND} -DFABENCH_SOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR} -DPROJECT_VERSION=${PROJECT_VERSION}
          -DFABENCH_VERSION_HEADER=${FABENCH_VERSION_HEADER} -P ${CMAKE_CURRENT_LIST_FILE}
  BYPRODUCTS ${FABENCH_VERSION_HEADER}
  COMMENT "git revision into version.hpp"
  VERBATIM)
