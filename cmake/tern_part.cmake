# tern_part(NAME DIR [DEPS ...]): one static library per architectural part,
# built from every .cpp under src/DIR, so adding a file needs no CMake edit.
function(tern_part name dir)
  cmake_parse_arguments(P "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${dir}/*.cpp)
  add_library(tern_${name} STATIC ${srcs})
  target_include_directories(tern_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(tern_${name} PUBLIC ${P_DEPS})
endfunction()
