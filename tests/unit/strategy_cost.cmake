# Unit tests of the cost-minimising strategy choice and of exploration in the service, included
# from tests/unit/CMakeLists.txt.
advisor_test(strategy_cost_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/strategy_cost_test.cc
             LIBS strategy LABELS unit)
advisor_test(exploration_service_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/exploration_service_test.cc
             LIBS advisor_service LABELS unit)
