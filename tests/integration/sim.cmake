# advisor-sim against an in-process advisor-server and a real PostgreSQL, included from
# tests/integration/CMakeLists.txt.
advisor_test(sim_integration_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_test.cc
             LIBS sim advisor_service test_support LABELS integration)
