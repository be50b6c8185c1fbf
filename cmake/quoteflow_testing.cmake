# Test registration helpers, included before any folder so that every folder can use them.

# quoteflow_add_integration_test(<target> [LABELS label...] [TIMEOUT seconds])
# Links <target> with the shared test main and registers it as ONE ctest test (one cluster for the
# whole binary; gtest_discover_tests would start one per test case), labelled "integration".
function(quoteflow_add_integration_test target)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  target_link_libraries(${target} quoteflow_test_main)
  add_test(NAME ${target} COMMAND ${target})
  set_tests_properties(${target} PROPERTIES LABELS "integration;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
