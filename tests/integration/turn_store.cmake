# Integration tests of the TURN registry, TURN health and the prober's leader lock, included from
# tests/integration/CMakeLists.txt.
advisor_test(turn_store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/turn_store_test.cc
             LIBS store test_support LABELS integration)
