# Unit tests of the TURN prober's logic with a fake probe, store and clock, included from
# tests/unit/CMakeLists.txt.
advisor_test(prober_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/prober_test.cc LIBS prober LABELS unit)
