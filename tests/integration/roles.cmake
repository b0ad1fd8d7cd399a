# Integration tests of the least-privilege database roles, included from
# tests/integration/CMakeLists.txt.
advisor_test(roles_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/roles_test.cc
             LIBS store test_support LABELS integration)
