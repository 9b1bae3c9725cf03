# Run by CMakeLists.txt after each test binary is built (cmake -P): asks the binary for its cases
# (--list) and writes CASES_FILE, which ctest includes, with one ctest test per case. A case that
# cannot run here then shows as skipped on its own line, and its neighbours still as passed.
#
#   -D TEST_BINARY=<path of the built binary> -D CASES_FILE=<file to write>
if(NOT TEST_BINARY OR NOT CASES_FILE)
  message(FATAL_ERROR "list_cases.cmake needs -D TEST_BINARY=... -D CASES_FILE=...")
endif()
execute_process(COMMAND "${TEST_BINARY}" --list
                OUTPUT_VARIABLE listed ERROR_VARIABLE errors RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${TEST_BINARY} --list exited with ${status}: ${errors}")
endif()
string(REPLACE "\n" ";" cases "${listed}")
set(out "# Written by native/test/list_cases.cmake from `${TEST_BINARY} --list`.\n")
foreach(name IN LISTS cases)
  if(name STREQUAL "")
    continue()
  endif()
  # 77: the harness's kSkipExitCode (native/test/harness.h).
  string(APPEND out "add_test([==[${name}]==] [==[${TEST_BINARY}]==] --exact [==[${name}]==])\n"
                    "set_tests_properties([==[${name}]==] PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS unit)\n")
endforeach()
file(WRITE "${CASES_FILE}" "${out}")
