// ThreadSanitizer builds only, included before every C++ file: makes protobuf's map fields have
// the layout that Debian's libprotobuf, built without TSan, has.
//
// Under TSan, protobuf's map_field.h adds two counters to MapFieldBase (a check that a map is not
// read and written at once), so code compiled with -fsanitize=thread sees every message with a
// map field as larger than the library does. For messages generated in our build both sides agree,
// but google.protobuf.Struct is compiled into libprotobuf: our code then reads its `fields` map at
// the wrong offset and crashes (SEGV in Map::InnerMap). map_field.h is read here once, with the
// macro it tests hidden, and its include guard keeps that layout for the rest of the file.
//
// <cstddef> comes first so that libstdc++'s configuration, which also tests __SANITIZE_THREAD__
// (for its own TSan annotations), is read with the macro in place.
#ifndef ADVISOR_TESTS_SANITIZERS_TSAN_PROTOBUF_LAYOUT_H_
#define ADVISOR_TESTS_SANITIZERS_TSAN_PROTOBUF_LAYOUT_H_

#include <cstddef>

#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")

#endif  // ADVISOR_TESTS_SANITIZERS_TSAN_PROTOBUF_LAYOUT_H_
