// loop/thread.h: libuv's thread synchronization primitives (uv_mutex_t,
// uv_rwlock_t, uv_cond_t, uv_sem_t, uv_barrier_t, uv_once_t), as pyuv
// exposes them.
//
//   evergreen::loop::Mutex mu;
//   evergreen::loop::Condition cond;
//   bool ready = false;
//   std::thread producer([&] {
//     std::lock_guard<evergreen::loop::Mutex> lock(mu);
//     ready = true;
//     cond.Signal();
//   });
//   {
//     std::lock_guard<evergreen::loop::Mutex> lock(mu);
//     while (!ready) cond.Wait(mu);
//   }
//   producer.join();
//
// Every blocking call here blocks the calling OS thread: it is for plain
// threads (and libuv's thread pool), NOT for use inside fibers, where it
// would stall every fiber scheduled on that thread. None of these types can
// be copied or moved. All methods are thread-safe (that is their purpose).
//
// Errors: initialising a Mutex, RWLock, Condition or Once cannot fail on
// Linux (glibc's pthread_*_init always succeeds with libuv's attributes), so
// their constructors abort if it ever does. Semaphore and Barrier take a
// caller's value that can be out of range, so they are made by Create
// factories that return InvalidArgument instead. Misuse that libuv detects
// at run time (unlocking a mutex not held, destroying a held one) aborts the
// process: libuv calls abort() there.
#ifndef EVERGREEN_LOOP_THREAD_H_
#define EVERGREEN_LOOP_THREAD_H_

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace evergreen {
namespace loop {

// Mutex is a mutual exclusion lock (uv_mutex_t). It meets the standard
// Lockable requirements (lock, try_lock, unlock), so std::lock_guard and
// std::unique_lock work with it.
class ABSL_LOCKABLE Mutex {
 public:
  enum Kind {
    // A thread must not lock it again while holding it (deadlock).
    kNormal,
    // The holder may lock it again; it is released after as many Unlocks.
    kRecursive,
  };

  explicit Mutex(Kind kind = kNormal);
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  // ~Mutex: the mutex must not be held (libuv aborts otherwise).
  ~Mutex();

  // Lock blocks until the mutex is held by the calling thread.
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  // TryLock takes the mutex if it is free (or, recursive, already held by
  // this thread) and returns true; returns false at once otherwise.
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  // Unlock releases the mutex; the calling thread must hold it.
  void Unlock() ABSL_UNLOCK_FUNCTION();

  // The standard Lockable names, for std::lock_guard / std::unique_lock.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Lock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return TryLock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { Unlock(); }

  // raw returns libuv's mutex.
  uv_mutex_t* raw() { return &mutex_; }

 private:
  uv_mutex_t mutex_;
};

// RWLock is a readers-writer lock (uv_rwlock_t): many readers or one writer.
// lock/unlock are the exclusive (writer) side and lock_shared/unlock_shared
// the shared (reader) side, so std::unique_lock and std::shared_lock work.
// Whether a waiting writer blocks new readers is glibc's choice (by default
// it does not: readers may starve a writer).
class ABSL_LOCKABLE RWLock {
 public:
  RWLock();
  RWLock(const RWLock&) = delete;
  RWLock& operator=(const RWLock&) = delete;
  // ~RWLock: the lock must not be held.
  ~RWLock();

  // ReadLock blocks until the calling thread holds the lock shared.
  void ReadLock() ABSL_SHARED_LOCK_FUNCTION();
  // TryReadLock takes the lock shared if no writer holds it; returns
  // whether it did, without blocking.
  bool TryReadLock() ABSL_SHARED_TRYLOCK_FUNCTION(true);
  // ReadUnlock releases a shared hold.
  void ReadUnlock() ABSL_UNLOCK_FUNCTION();
  // WriteLock blocks until the calling thread holds the lock exclusively.
  void WriteLock() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  // TryWriteLock takes the lock exclusively if nobody holds it; returns
  // whether it did, without blocking.
  bool TryWriteLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  // WriteUnlock releases the exclusive hold.
  void WriteUnlock() ABSL_UNLOCK_FUNCTION();

  // The standard names, for std::unique_lock and std::shared_lock.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { WriteLock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    return TryWriteLock();
  }
  void unlock() ABSL_UNLOCK_FUNCTION() { WriteUnlock(); }
  void lock_shared() ABSL_SHARED_LOCK_FUNCTION() { ReadLock(); }
  bool try_lock_shared() ABSL_SHARED_TRYLOCK_FUNCTION(true) {
    return TryReadLock();
  }
  void unlock_shared() ABSL_UNLOCK_FUNCTION() { ReadUnlock(); }

  // raw returns libuv's lock.
  uv_rwlock_t* raw() { return &rwlock_; }

 private:
  uv_rwlock_t rwlock_;
};

// Condition is a condition variable (uv_cond_t) used with a Mutex. As with
// every condition variable, a Wait may return without a Signal (spurious
// wakeup): wait in a loop that checks the condition.
class Condition {
 public:
  Condition();
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;
  // ~Condition: no thread may be waiting.
  ~Condition();

  // Wait atomically releases `mu` (held by the calling thread, locked once
  // if recursive), blocks until woken, and takes `mu` again before
  // returning.
  void Wait(Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // WaitFor is Wait bounded by `timeout` (measured on a monotonic clock;
  // negative counts as zero). Returns true if woken (by Signal, Broadcast
  // or spuriously), false if the timeout expired. `mu` is held again on
  // return either way.
  bool WaitFor(Mutex& mu, std::chrono::nanoseconds timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Signal wakes one waiting thread, if any.
  void Signal();
  // Broadcast wakes every waiting thread.
  void Broadcast();

  // raw returns libuv's condition variable.
  uv_cond_t* raw() { return &cond_; }

 private:
  uv_cond_t cond_;
};

// Semaphore is a counting semaphore (uv_sem_t).
class Semaphore {
 public:
  // Create returns a semaphore whose count starts at `initial`, or
  // InvalidArgument ("semaphore init: EINVAL ...") when `initial` exceeds
  // SEM_VALUE_MAX.
  static absl::StatusOr<std::unique_ptr<Semaphore>> Create(
      unsigned int initial);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  // ~Semaphore: no thread may be waiting.
  ~Semaphore();

  // Post increments the count, waking one waiter if any.
  void Post();
  // Wait blocks until the count is positive, then decrements it.
  void Wait();
  // TryWait decrements a positive count and returns true; returns false at
  // once when the count is zero.
  bool TryWait();

  // raw returns libuv's semaphore.
  uv_sem_t* raw() { return &sem_; }

 private:
  Semaphore() = default;
  uv_sem_t sem_;
  bool initialized_ = false;
};

// Barrier makes `count` threads wait for each other (uv_barrier_t). It is
// reusable: once `count` threads have passed, the next `count` Wait calls
// form a new round.
class Barrier {
 public:
  // Create returns a barrier for `count` threads, or InvalidArgument
  // ("barrier init: EINVAL ...") when `count` is 0.
  static absl::StatusOr<std::unique_ptr<Barrier>> Create(unsigned int count);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;
  // ~Barrier: no thread may be waiting.
  ~Barrier();

  // Wait blocks until `count` threads called it in this round. Returns true
  // in exactly one of them (the "serial" thread, e.g. to do a round's
  // single-threaded step) and false in the others.
  bool Wait();

  // raw returns libuv's barrier.
  uv_barrier_t* raw() { return &barrier_; }

 private:
  Barrier() = default;
  uv_barrier_t barrier_;
  bool initialized_ = false;
};

// Once runs a function exactly once (uv_once_t), however many threads call
// Call, however concurrently: the first caller runs it, the others block
// until it returned, later callers return at once.
//
// Unlike std::call_once, a function that throws still counts as run: the
// exception propagates to the caller that ran it and the function is never
// run again. `fn` must not call Call on the same Once (deadlock).
class Once {
 public:
  Once() = default;
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;

  // Call runs `fn` if no Call on this Once ran its function yet. An empty
  // `fn` counts as a function that does nothing.
  void Call(const std::function<void()>& fn);

  // raw returns libuv's once guard.
  uv_once_t* raw() { return &once_; }

 private:
  uv_once_t once_ = UV_ONCE_INIT;
};

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_THREAD_H_
