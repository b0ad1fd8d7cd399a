# The turn-prober binary against a real PostgreSQL and a real coturn, included from
# tests/integration/CMakeLists.txt.
advisor_test(prober_integration_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/prober_test.cc
             LIBS store test_support LABELS integration)
add_dependencies(prober_integration_test turn-prober)
