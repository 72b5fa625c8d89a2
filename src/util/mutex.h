// Mutexes the Clang thread-safety analysis understands (util/thread_annotations.h), as
// leveldb's port::Mutex: std::mutex and std::timed_mutex carry no annotations with libstdc++,
// so members GUARDED_BY one of these are checked at compile time. Same semantics and cost as
// the standard types they wrap; not recursive; thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/thread_annotations.h"

namespace custdb {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  void lock() ACQUIRE() { m_.lock(); }
  void unlock() RELEASE() { m_.unlock(); }

 private:
  std::mutex m_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* m) ACQUIRE(m) : m_(m) { m_->lock(); }
  ~MutexLock() RELEASE() { m_->unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* m_;
};

// A condition variable waited on with its Mutex held (wait() releases it while blocked and holds
// it again on return). Not annotated (as leveldb's port::CondVar): the analysis cannot tell that
// m_ is the caller's Mutex, so the callers' own GUARDED_BY accesses carry the checking.
class CondVar {
 public:
  explicit CondVar(Mutex* m) : m_(m) {}
  void wait() { cv_.wait(*m_); }
  // false: `deadline` passed (the Mutex is held again either way).
  bool wait_until(std::chrono::steady_clock::time_point deadline) {
    return cv_.wait_until(*m_, deadline) == std::cv_status::no_timeout;
  }
  void notify_all() { cv_.notify_all(); }

 private:
  Mutex* const m_;
  std::condition_variable_any cv_;
};

// A Mutex with a timed acquire (std::timed_mutex).
class CAPABILITY("mutex") TimedMutex {
 public:
  TimedMutex() = default;
  TimedMutex(const TimedMutex&) = delete;
  TimedMutex& operator=(const TimedMutex&) = delete;
  void lock() ACQUIRE() { m_.lock(); }
  // true: acquired before `deadline`.
  bool try_lock_until(std::chrono::steady_clock::time_point deadline) TRY_ACQUIRE(true) {
    return m_.try_lock_until(deadline);
  }
  void unlock() RELEASE() { m_.unlock(); }

 private:
  std::timed_mutex m_;
};

}  // namespace custdb
