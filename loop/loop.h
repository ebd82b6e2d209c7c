// loop/loop.h: an event loop (libuv's uv_loop_t) and the base of its handles.
//
// A Loop runs callbacks; handles (Timer, Idle, Prepare, Check, Async, Signal)
// are created through their static Create(loop) factories and owned by the
// caller through a HandlePtr. Destroying the HandlePtr closes the handle; its
// memory is released only after libuv's close callback ran.
//
//   evergreen::loop::Loop loop;
//   evergreen::loop::HandlePtr<evergreen::loop::Timer> timer =
//       evergreen::loop::Timer::Create(loop);
//   absl::Status s = timer->Start(10, 0, [](evergreen::loop::Timer& t) {
//     t.Close();  // close from its own callback is fine
//   });
//   loop.Run();              // returns once no handle is active
//   timer.reset();
//   absl::Status closed = loop.Close();  // OK: no handle left open
//
// Threads: a Loop and its handles belong to the thread that runs the loop.
// Every method is "loop thread only" unless it says "thread-safe" (only
// Async::Send does).
#ifndef EVERGREEN_LOOP_LOOP_H_
#define EVERGREEN_LOOP_LOOP_H_

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evergreen {
namespace loop {

class Handle;
class Request;

// RunMode selects how long Loop::Run runs (libuv's uv_run_mode).
enum class RunMode {
  // Until no active and referenced handle remains, or Stop() is called.
  kDefault = UV_RUN_DEFAULT,
  // One iteration, blocking for I/O if there is nothing pending.
  kOnce = UV_RUN_ONCE,
  // One iteration, never blocking.
  kNoWait = UV_RUN_NOWAIT,
};

// ExceptionHandler receives an exception thrown by a user callback. It runs
// on the loop thread, inside the Run call that invoked the callback.
using ExceptionHandler = std::function<void(std::exception_ptr)>;

// Loop is a libuv event loop: an owned one (Loop()) or the process default
// loop (Loop::Default()). It can be neither copied nor moved.
//
// Exceptions: an exception thrown by a user callback is caught at the
// callback boundary (it never unwinds through libuv's C frames) and handed to
// the exception handler. The default handler keeps the first exception and
// stops the loop; Run rethrows it once the current iteration ended. An
// exception caught while one is already kept is printed to stderr. If a
// handler itself throws, both exceptions are printed to stderr.
//
// Destruction: destroying a Loop that still has open handles closes them,
// cancels the requests in flight (see loop/request.h), runs the loop until
// the close and request callbacks ran, then closes the loop. The
// HandlePtr owners stay valid; their handles report IsClosing() and every
// operation on them returns an error. Loop thread only.
class Loop {
 public:
  // Loop creates a new loop. Aborts if libuv cannot initialise it (out of
  // file descriptors); Create() reports that as an error instead.
  Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  // ~Loop closes what is still open (see above). The default loop is never
  // destroyed.
  ~Loop();

  // Create returns a new loop, or the libuv error ("loop init: EMFILE ...").
  static absl::StatusOr<std::unique_ptr<Loop>> Create();

  // Default returns the process default loop (uv_default_loop()), created on
  // first use and never destroyed. Not thread-safe on first call.
  static Loop& Default();

  // Run runs the loop in `mode`. Returns true if active and referenced
  // handles remain (more to do), false otherwise. Rethrows the exception kept
  // by the default exception handler. Loop thread only; not reentrant.
  bool Run(RunMode mode = RunMode::kDefault);

  // Stop makes Run return after the current iteration. Loop thread only.
  void Stop();

  // Now returns the loop's cached time in milliseconds (uv_now). Loop thread
  // only.
  uint64_t Now() const;

  // UpdateTime refreshes the cached time (uv_update_time). Loop thread only.
  void UpdateTime();

  // HrTime returns a monotonic time in nanoseconds (uv_hrtime).
  // Thread-safe.
  static uint64_t HrTime();

  // BackendFd returns the epoll fd, to embed this loop in another one (poll it
  // for readability, then Run(RunMode::kNoWait)). Loop thread only.
  int BackendFd() const;

  // BackendTimeout returns the poll timeout in milliseconds the loop would
  // use now, -1 for none. Loop thread only.
  int BackendTimeout() const;

  // Alive returns whether the loop has active and referenced handles or
  // requests. Loop thread only.
  bool Alive() const;

  // Walk calls `fn` for each open handle of this loop created through
  // //loop (handles whose close callback has not run yet, including closing
  // ones). `fn` may close handles. Loop thread only.
  void Walk(const std::function<void(Handle&)>& fn);

  // Close closes the loop (uv_loop_close). Fails, leaving the loop usable,
  // with an error listing the handles still open and counting requests in
  // flight, e.g. "loop close: EBUSY (resource busy or locked); 1 handle(s)
  // still open: timer (active); 0 request(s) in flight". After success only the
  // destructor may be called. Loop thread only.
  absl::Status Close();

  // SetExceptionHandler replaces the exception handler; nullptr restores the
  // default one described above. Loop thread only.
  void SetExceptionHandler(ExceptionHandler handler);

  // SharedReadBuffer returns this loop's default read buffer (64 KiB,
  // allocated on first use): streams and UDP handles without an allocator of
  // their own read into it. libuv hands each read to its callback before the
  // next one starts, so one buffer serves every handle of the loop and idle
  // connections hold no buffer. Loop thread only.
  char* SharedReadBuffer();
  static constexpr size_t kSharedReadBufferSize = 64 * 1024;

  // raw returns libuv's loop. Loop thread only.
  uv_loop_t* raw() { return loop_; }

  // Invoke calls `fn()` and hands whatever it throws to the exception
  // handler: the boundary every user callback crosses. Loop thread only.
  template <typename F>
  void Invoke(F&& fn) noexcept {
    try {
      fn();
    } catch (...) {
      HandleException(std::current_exception());
    }
  }

 private:
  friend class Handle;
  friend class Request;
  struct OwnTag {};
  Loop(OwnTag, int* init_rc);
  explicit Loop(uv_loop_t* default_loop);
  void HandleException(std::exception_ptr e) noexcept;

  uv_loop_t own_;
  uv_loop_t* loop_;
  bool closed_ = false;
  ExceptionHandler handler_;
  std::exception_ptr pending_;
  std::unique_ptr<char[]> read_buffer_;
  // Handles created through //loop whose close callback has not run.
  std::unordered_set<Handle*> handles_;
  // Requests submitted through //loop whose callback has not run; the loop
  // keeps them alive until then.
  std::unordered_map<Request*, std::shared_ptr<Request>> requests_;
};

// Handle is the base of every handle type. A Handle lives in the memory its
// HandlePtr owns and holds its libuv handle by value; it can be neither
// copied nor moved. Every method is loop thread only.
//
// Lifetime: destroying the HandlePtr closes the handle if it is open (its
// close callback, if one was given to Close, still runs) and frees the memory
// once libuv's close callback ran; this is safe from inside the handle's own
// callbacks. Once the handle is closing, Start-like operations return
// FailedPrecondition.
class Handle {
 public:
  // CloseCallback runs once the handle is closed.
  using CloseCallback = std::function<void(Handle&)>;

  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // Ref makes the handle keep the loop alive while active (the default).
  void Ref();
  // Unref makes the loop not wait for this handle.
  void Unref();
  // HasRef returns whether the handle is referenced.
  bool HasRef() const;
  // IsActive returns whether the handle is started (libuv's meaning).
  bool IsActive() const;
  // IsClosing returns whether Close was called (or the loop closed it).
  // Inline: streams check it on every read and write.
  bool IsClosing() const { return closing_; }

  // Close starts closing the handle; `cb` (may be empty) runs from the loop
  // once closed. Returns FailedPrecondition if already closing.
  absl::Status Close(CloseCallback cb = nullptr);

  // Fileno returns the handle's file descriptor; an error
  // ("fileno: EINVAL (invalid argument)") for types libuv gives none (all the
  // types built so far), or EBADF when closing.
  absl::StatusOr<int> Fileno() const;

  // SendBufferSize / RecvBufferSize return the socket's SO_SNDBUF /
  // SO_RCVBUF (TCP, pipe and UDP handles; ENOTSUP for the others; EBADF
  // before the socket exists). The setters ask the kernel for `bytes`
  // (Linux doubles and bounds it: read the value back).
  absl::StatusOr<int> SendBufferSize() const;
  absl::StatusOr<int> RecvBufferSize() const;
  absl::Status SetSendBufferSize(int bytes);
  absl::Status SetRecvBufferSize(int bytes);

  // set_user_data / user_data: an opaque pointer for the caller, not owned.
  void set_user_data(void* data) { user_data_ = data; }
  void* user_data() const { return user_data_; }

  // TypeName returns libuv's name for the handle type ("timer", "idle"...).
  absl::string_view TypeName() const;

  // loop returns the owning loop. Must not be used after the loop was
  // destroyed.
  Loop& loop() const { return *loop_; }

 protected:
  // `raw` points into the derived object; the derived constructor must
  // initialise it and then call Register().
  Handle(Loop& loop, uv_handle_t* raw);
  virtual ~Handle();

  // Register records a successfully initialised libuv handle.
  void Register();

  // raw_handle returns libuv's handle.
  uv_handle_t* raw_handle() const { return raw_; }

  // CheckOpen returns FailedPrecondition("<operation>: handle is closing")
  // when the handle is closing or closed.
  absl::Status CheckOpen(absl::string_view operation) const {
    if (ABSL_PREDICT_TRUE(!closing_)) {
      return absl::OkStatus();
    }
    return ClosingError(operation);
  }

 private:
  friend class Loop;
  friend struct HandleDeleter;
  static void OnClose(uv_handle_t* raw);
  // StartClose marks the handle closing and calls uv_close.
  void StartClose();
  void ReleaseOwner();
  static absl::Status ClosingError(absl::string_view operation);

  Loop* loop_;
  uv_handle_t* raw_;
  bool registered_ = false;
  bool owned_ = true;
  bool closed_ = false;  // the close callback ran
  // uv_close was called (by Close, ReleaseOwner or ~Loop, the only callers):
  // libuv's uv_is_closing without the call into the library.
  bool closing_ = false;
  CloseCallback close_cb_;
  void* user_data_ = nullptr;
};

// HandleDeleter is HandlePtr's deleter: it closes an open handle and frees
// the memory once libuv's close callback ran.
struct HandleDeleter {
  void operator()(Handle* handle) const { handle->ReleaseOwner(); }
};

// HandlePtr owns a handle created by a Create factory.
template <typename T>
using HandlePtr = std::unique_ptr<T, HandleDeleter>;

}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_LOOP_H_
