# Integration tests of lib/turn against a real coturn, included from tests/integration/CMakeLists.txt.
advisor_test(turn_probe_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/turn_probe_test.cc
             LIBS turn test_support LABELS integration)
