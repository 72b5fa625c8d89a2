# Installs the built custdb into a scratch prefix, then builds and runs tests/embed against it,
# once with find_package(custdb) and once with pkg-config.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_CXX_FLAGS=${EXTRA_FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/app ${WORK_DIR}/db-cmake)
# pkg-config, for non-CMake builds.
file(GLOB pc_dir LIST_DIRECTORIES true ${prefix}/lib*/pkgconfig ${prefix}/lib/*/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
execute_process(COMMAND pkg-config --cflags --libs custdb OUTPUT_VARIABLE flags
  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config cannot find custdb in ${pc_dir}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
file(GLOB libdir LIST_DIRECTORIES true ${prefix}/lib*)
separate_arguments(extra UNIX_COMMAND "${EXTRA_FLAGS}")
# pkg-config carries no -std (it would override the consumer's): C++20 and C++23 consumers.
if(flags MATCHES "-std=")
  message(FATAL_ERROR "pkg-config custdb sets a C++ standard: ${flags}")
endif()
foreach(std c++20 c++23)
  run(c++ -std=${std} ${SOURCE_DIR}/main.cc ${flags} ${extra} -Wl,-rpath,${prefix}/lib
      -o ${WORK_DIR}/app-pc-${std})
  run(${WORK_DIR}/app-pc-${std} ${WORK_DIR}/db-pc-${std})
endforeach()
