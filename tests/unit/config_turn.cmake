# Unit tests of the TURN health state machine and the TURN servers file, included from
# tests/unit/CMakeLists.txt.
advisor_test(turn_health_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/turn_health_test.cc
             LIBS turn LABELS unit)
advisor_test(turn_servers_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/turn_servers_test.cc
             LIBS config LABELS unit)
