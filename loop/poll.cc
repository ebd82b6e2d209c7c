#include "loop/poll.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace {

constexpr int kAllEvents =
    UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED;

// The Polls watching each (loop, fd): libuv aborts when two of its poll
// handles watch one fd on one loop, and checks only fds whose watcher is
// started. Loops may run on different threads, hence the mutex; an entry is
// only read and written by its own loop's thread.
struct Registry {
  std::mutex mu;
  std::map<std::pair<const uv_loop_t*, int>, const Poll*> polls;
};

Registry& GetRegistry() {
  static Registry* const registry = new Registry;
  return *registry;
}

}  // namespace

Poll::Poll(Loop& loop, int fd)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&poll_)), fd_(fd) {}

Poll::~Poll() {
  if (!registered_fd_) return;
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.polls.find({poll_.loop, fd_});
  // A later Poll may have taken the fd over once this one was closing.
  if (it != r.polls.end() && it->second == this) r.polls.erase(it);
}

absl::StatusOr<HandlePtr<Poll>> Poll::Create(Loop& loop, int fd) {
  return CreateImpl(loop, fd, false);
}

absl::StatusOr<HandlePtr<Poll>> Poll::CreateSocket(Loop& loop, int socket) {
  return CreateImpl(loop, socket, true);
}

absl::StatusOr<HandlePtr<Poll>> Poll::CreateImpl(Loop& loop, int fd,
                                                 bool socket) {
  std::string op = absl::StrCat("poll init fd ", fd);
  if (fd < 0) return UvStatus(UV_EBADF, op);
  HandlePtr<Poll> poll(new Poll(loop, fd));
  {
    Registry& r = GetRegistry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto key = std::make_pair(static_cast<const uv_loop_t*>(loop.raw()), fd);
    auto it = r.polls.find(key);
    if (it != r.polls.end() && !it->second->IsClosing()) {
      absl::Status s = UvStatus(UV_EEXIST, op);
      return absl::Status(
          s.code(),
          absl::StrCat(s.message(), "; another Poll watches it on this loop"));
    }
    int rc = socket ? uv_poll_init_socket(loop.raw(), &poll->poll_, fd)
                    : uv_poll_init(loop.raw(), &poll->poll_, fd);
    if (rc < 0) return UvStatus(rc, op);  // not registered: freed now
    r.polls[key] = poll.get();
    poll->registered_fd_ = true;
  }
  poll->Register();
  return poll;
}

absl::Status Poll::Start(int events, Callback cb) {
  if (absl::Status s = CheckOpen("poll start"); !s.ok()) return s;
  // libuv asserts on unknown bits and silently stops on 0.
  if (!cb || events == 0 || (events & ~kAllEvents) != 0) {
    return UvStatus(UV_EINVAL, "poll start");
  }
  cb_ = std::make_shared<Callback>(std::move(cb));
  return UvStatus(uv_poll_start(&poll_, events, &Poll::OnPoll), "poll start");
}

absl::Status Poll::Stop() {
  if (absl::Status s = CheckOpen("poll stop"); !s.ok()) return s;
  return UvStatus(uv_poll_stop(&poll_), "poll stop");
}

void Poll::OnPoll(uv_poll_t* raw, int status, int events) {
  auto* self = static_cast<Poll*>(static_cast<Handle*>(raw->data));
  // A copy: the callback may restart the watcher with another callback.
  std::shared_ptr<Callback> cb = self->cb_;
  if (!cb) return;
  absl::Status s = UvStatus(status, "poll");
  self->loop().Invoke(
      [&] { (*cb)(*self, std::move(s), status < 0 ? 0 : events); });
}

}  // namespace loop
}  // namespace evergreen
