#include "loop/async.h"

#include <utility>

#include "loop/status.h"

namespace evergreen {
namespace loop {

Async::Async(Loop& loop, Callback cb)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&async_)),
      cb_(std::move(cb)) {}

absl::StatusOr<HandlePtr<Async>> Async::Create(Loop& loop, Callback cb) {
  if (!cb) return UvStatus(UV_EINVAL, "async init");
  HandlePtr<Async> async(new Async(loop, std::move(cb)));
  int rc = uv_async_init(loop.raw(), &async->async_, &Async::OnAsync);
  if (rc < 0) return UvStatus(rc, "async init");  // not registered: freed now
  async->Register();
  return async;
}

void Async::OnAsync(uv_async_t* raw) {
  auto* self = static_cast<Async*>(static_cast<Handle*>(raw->data));
  self->loop().Invoke([&] { self->cb_(*self); });
}

}  // namespace loop
}  // namespace evergreen
