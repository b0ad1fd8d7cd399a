# Unit tests of advisor-sim's logic (scenarios, client model, baselines, statistics), included from
# tests/unit/CMakeLists.txt.
advisor_test(sim_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_test.cc LIBS sim LABELS unit)
