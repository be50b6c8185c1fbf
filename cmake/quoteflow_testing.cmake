# Test registration helpers, included before any folder so that every folder can use them.

# Where the ctest run's Kafka fixture (tests/CMakeLists.txt: kafka_fixture_start/_stop) keeps its
# cluster and writes its bootstrap list.
set(QUOTEFLOW_TEST_KAFKA_DIR "${CMAKE_BINARY_DIR}/test-kafka")

# quoteflow_uses_kafka(<test>...)
# The tests run on the run's real Kafka: they require the `kafka` fixture and find it through
# QUOTEFLOW_TEST_KAFKA_DIR (tests/support/test_environment.h).
function(quoteflow_uses_kafka)
  foreach(test ${ARGN})
    set_property(TEST ${test} APPEND PROPERTY FIXTURES_REQUIRED kafka)
    set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT
                 "QUOTEFLOW_TEST_KAFKA_DIR=${QUOTEFLOW_TEST_KAFKA_DIR}")
  endforeach()
endfunction()

# quoteflow_add_integration_test(<target> [LABELS label...] [TIMEOUT seconds])
# Links <target> with the shared test main and registers it as ONE ctest test (one cluster for the
# whole binary; gtest_discover_tests would start one per test case), labelled "integration", on
# the run's real Kafka.
function(quoteflow_add_integration_test target)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  target_link_libraries(${target} quoteflow_test_main)
  add_test(NAME ${target} COMMAND ${target})
  set_tests_properties(${target} PROPERTIES LABELS "integration;${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
  quoteflow_uses_kafka(${target})
endfunction()
