// Clang thread-safety annotations (-Wthread-safety), as leveldb's port/thread_annotations.h:
// they state which mutex guards which member and which functions must hold it, and Clang
// checks every access at compile time. Other compilers see nothing.
#pragma once

#if defined(__clang__)
#define CUSTDB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CUSTDB_THREAD_ANNOTATION(x)
#endif

// A class that is a lock (Mutex below).
#define CAPABILITY(x) CUSTDB_THREAD_ANNOTATION(capability(x))
// An RAII class that holds a lock for its lifetime.
#define SCOPED_CAPABILITY CUSTDB_THREAD_ANNOTATION(scoped_lockable)
// A member read or written only while holding `x`.
#define GUARDED_BY(x) CUSTDB_THREAD_ANNOTATION(guarded_by(x))
// A pointer member whose pointee is accessed only while holding `x`.
#define PT_GUARDED_BY(x) CUSTDB_THREAD_ANNOTATION(pt_guarded_by(x))
// The function must be called holding `...` (and does not release it).
#define REQUIRES(...) CUSTDB_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// The function must be called not holding `...` (it takes it itself).
#define EXCLUDES(...) CUSTDB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// The function takes `...` and returns holding it.
#define ACQUIRE(...) CUSTDB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
// The function takes `...` when it returns `ret` (true for try-locks).
#define TRY_ACQUIRE(...) CUSTDB_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// The function releases `...`, held on entry.
#define RELEASE(...) CUSTDB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// The function checks (at run time, if at all) that the caller holds `x`.
#define ASSERT_CAPABILITY(x) CUSTDB_THREAD_ANNOTATION(assert_capability(x))
// The function returns a reference to the lock `x`.
#define RETURN_CAPABILITY(x) CUSTDB_THREAD_ANNOTATION(lock_returned(x))
// Opts a function out of the analysis (say why at each use).
#define NO_THREAD_SAFETY_ANALYSIS CUSTDB_THREAD_ANNOTATION(no_thread_safety_analysis)
