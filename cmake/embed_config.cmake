# Compiles configs/default.json into the binary so `fa-bench` alone runs the default sweep.
set(FABENCH_DEFAULT_CONFIG ${CMAKE_CURRENT_SOURCE_DIR}/configs/default.json)
set(FABENCH_EMBEDDED_CONFIG_CPP ${CMAKE_CURRENT_BINARY_DIR}/generated/default_config.cpp)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${FABENCH_DEFAULT_CONFIG})
file(READ ${FABENCH_DEFAULT_CONFIG} FABENCH_DEFAULT_CONFIG_TEXT)
file(WRITE ${FABENCH_EMBEDDED_CONFIG_CPP}
  "// Generated from configs/default.json by cmake/embed_config.cmake. Do not edit.\n"
  "namespace fabench { extern const char* const kDefaultConfigJson; }\n"
  "const char* const fabench::kDefaultConfigJson = R\"FABENCH_JSON(${FABENCH_DEFAULT_CONFIG_TEXT})FABENCH_JSON\";\n")
