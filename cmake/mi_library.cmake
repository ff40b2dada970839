# One library per component folder, one test binary per folder, the same warnings everywhere.

# -Wnull-dereference is left out: GCC 12 reports false positives inside libstdc++ at -O2.
set(MI_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
    -Wdouble-promotion -Wformat=2)
# GCC 12 reports false -Wrestrict warnings inside libstdc++'s std::string operator+ at -O3
# (GCC bug 105329, fixed in GCC 13): "a" + std::string(...) anywhere would fail a Release build.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND MI_WARNINGS -Wno-restrict)
endif()
if(MI_WERROR)
  list(APPEND MI_WARNINGS -Werror)
endif()

if(MI_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

# The tsan preset: ThreadSanitizer (clang), plus clang's static lock analysis of the
# GUARDED_BY/REQUIRES annotations (common/thread_annotations.h), both as errors.
if(MI_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND MI_WARNINGS -Wthread-safety)
endif()

# mi_library(NAME SOURCES ... DEPS ...): static library `mi_<NAME>`, includes rooted at src/.
function(mi_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(mi_${name} STATIC ${ARG_SOURCES})
  target_include_directories(mi_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(mi_${name} PRIVATE ${MI_WARNINGS})
  target_link_libraries(mi_${name} PUBLIC ${ARG_DEPS})
endfunction()

# mi_test(NAME SOURCES ... DEPS ... LABELS ...): a GoogleTest binary registered with CTest.
function(mi_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${MI_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  include(GoogleTest)
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
