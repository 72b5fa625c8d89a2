// custdb/export.h — which declarations libcustdb.so exports.
//
// The library is built with -fvisibility=hidden and -fvisibility-inlines-hidden: only what is
// marked CUSTDB_EXPORT (the public API in include/custdb/) is in the shared object's dynamic
// symbol table. Internals (the storage layer, the codec, the indexes, and the FlatBuffers,
// tl::expected and Roaring code they instantiate) stay private to the library, so they cannot
// clash with another copy of those libraries in the application. On ELF the same attribute
// serves both building and using the library.
#pragma once

//
// CUSTDB_LOCAL keeps a member of an exported class out of that table: the constructors that
// take the library's opaque types (Database::Impl, ReadView::State, KeyMaterial::Secret),
// which only the library itself calls.
#if defined(_WIN32)
#define CUSTDB_EXPORT
#define CUSTDB_LOCAL
#else
#define CUSTDB_EXPORT __attribute__((visibility("default")))
#define CUSTDB_LOCAL __attribute__((visibility("hidden")))
#endif
