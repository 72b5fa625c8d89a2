# The installed surface is the public API: every symbol libcustdb.so defines in its dynamic
# table must be custdb's, and none of the library's internal namespaces. Run by CTest
# (exported_symbols) with -DNM=<nm> -DLIB=<path of libcustdb.so>.
execute_process(COMMAND ${NM} -D --defined-only -C ${LIB}
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIB}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(count 0)
set(bad "")
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  math(EXPR count "${count} + 1")
  # "<address> <type> <demangled name>": a name without custdb::, or naming an internal
  # namespace (in the name itself or in a parameter type; every namespace src/ declares
  # that include/ does not) or an opaque Rep, is not public API.
  if(NOT line MATCHES "custdb::" OR
     line MATCHES "custdb::([a-z_]+::)*(detail|crypto|storage|index|codec|coding|segment|normalize|analytics_access|analytics|enums|fb|field_rules|display)::" OR
     line MATCHES "::Rep[,>)]")
    string(APPEND bad "  ${line}\n")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${LIB} exports nothing")
endif()
if(NOT bad STREQUAL "")
  message(FATAL_ERROR "${LIB} exports symbols outside custdb's public API:\n${bad}")
endif()
message(STATUS "${LIB}: ${count} symbols, all custdb public API")
