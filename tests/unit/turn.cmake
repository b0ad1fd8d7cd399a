# Unit tests of lib/turn, included from tests/unit/CMakeLists.txt.
advisor_test(turn_message_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/turn_message_test.cc
             LIBS turn LABELS unit)
advisor_test(turn_credentials_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/turn_credentials_test.cc
             LIBS turn LABELS unit)
advisor_test(turn_url_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/turn_url_test.cc LIBS turn LABELS unit)
advisor_test(turn_selection_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/turn_selection_test.cc
             LIBS turn LABELS unit)
