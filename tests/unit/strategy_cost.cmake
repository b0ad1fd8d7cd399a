# Unit tests of the cost-minimising strategy choice, included from tests/unit/CMakeLists.txt.
advisor_test(strategy_cost_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/strategy_cost_test.cc
             LIBS strategy LABELS unit)
