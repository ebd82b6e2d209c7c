#include "loop/dns.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace {

// Operation names how a Status names the lookup: "getaddrinfo localhost",
// "getaddrinfo localhost (service 80)", "getaddrinfo (service http)".
std::string AddrInfoOperation(absl::string_view host,
                              absl::string_view service) {
  std::string op = "getaddrinfo";
  if (!host.empty()) absl::StrAppend(&op, " ", absl::CEscape(host));
  if (!service.empty()) {
    absl::StrAppend(&op, " (service ", absl::CEscape(service), ")");
  }
  return op;
}

bool HasNul(absl::string_view s) {
  return s.find('\0') != absl::string_view::npos;
}

}  // namespace

GetAddrInfoRequest::GetAddrInfoRequest(Loop& loop, std::string host,
                                       std::string service, Callback cb)
    : Request(loop, reinterpret_cast<uv_req_t*>(&req_)),
      host_(std::move(host)),
      service_(std::move(service)),
      operation_(AddrInfoOperation(host_, service_)),
      cb_(std::move(cb)) {}

void GetAddrInfoRequest::OnDone(uv_getaddrinfo_t* raw, int status,
                                addrinfo* res) {
  auto* self =
      static_cast<GetAddrInfoRequest*>(static_cast<Request*>(raw->data));
  // libuv hands the list over: always freed, whatever happens below.
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(res, &uv_freeaddrinfo);
  Loop& loop = self->loop();
  if (status < 0) {
    self->status_ = UvStatus(status, self->operation_);
  } else {
    loop.Invoke([&] {
      for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        absl::StatusOr<SocketAddress> address =
            SocketAddress::FromSockaddr(ai->ai_addr, ai->ai_addrlen);
        if (!address.ok()) continue;
        AddrInfo info;
        info.address = *address;
        info.socktype = ai->ai_socktype;
        info.protocol = ai->ai_protocol;
        if (ai->ai_canonname != nullptr) {
          info.canonical_name = ai->ai_canonname;
        }
        self->results_.push_back(std::move(info));
      }
    });
  }
  list.reset();
  // Moved out: what the callback captured is released here even if the
  // caller keeps the request.
  Callback cb = std::move(self->cb_);
  self->cb_ = nullptr;
  loop.Invoke([&] { cb(*self); });
  self->Completed();  // last: may free *self
}

GetNameInfoRequest::GetNameInfoRequest(Loop& loop, const SocketAddress& address,
                                       Callback cb)
    : Request(loop, reinterpret_cast<uv_req_t*>(&req_)),
      address_(address),
      operation_(absl::StrCat("getnameinfo ", address.ToString())),
      cb_(std::move(cb)) {}

void GetNameInfoRequest::OnDone(uv_getnameinfo_t* raw, int status,
                                const char* host, const char* service) {
  auto* self =
      static_cast<GetNameInfoRequest*>(static_cast<Request*>(raw->data));
  Loop& loop = self->loop();
  if (status < 0) {
    self->status_ = UvStatus(status, self->operation_);
  } else {
    loop.Invoke([&] {
      if (host != nullptr) self->host_ = host;
      if (service != nullptr) self->service_ = service;
    });
  }
  Callback cb = std::move(self->cb_);
  self->cb_ = nullptr;
  loop.Invoke([&] { cb(*self); });
  self->Completed();  // last: may free *self
}

namespace dns {

absl::StatusOr<std::shared_ptr<GetAddrInfoRequest>> GetAddrInfo(
    Loop& loop, absl::string_view host, absl::string_view service,
    const AddrInfoHints& hints, std::function<void(GetAddrInfoRequest&)> cb) {
  if (!cb || HasNul(host) || HasNul(service) ||
      (host.empty() && service.empty())) {
    return UvStatus(UV_EINVAL, AddrInfoOperation(host, service));
  }
  std::shared_ptr<GetAddrInfoRequest> req(new GetAddrInfoRequest(
      loop, std::string(host), std::string(service), std::move(cb)));
  addrinfo ai_hints = {};
  ai_hints.ai_family = hints.family;
  ai_hints.ai_socktype = hints.socktype;
  ai_hints.ai_protocol = hints.protocol;
  ai_hints.ai_flags = hints.flags;
  // libuv copies the strings and the hints.
  int rc = uv_getaddrinfo(
      loop.raw(), &req->req_, &GetAddrInfoRequest::OnDone,
      req->host_.empty() ? nullptr : req->host_.c_str(),
      req->service_.empty() ? nullptr : req->service_.c_str(), &ai_hints);
  if (rc < 0) return UvStatus(rc, req->operation_);
  Request::Submitted(req);
  return req;
}

absl::StatusOr<std::shared_ptr<GetNameInfoRequest>> GetNameInfo(
    Loop& loop, const SocketAddress& address, int flags,
    std::function<void(GetNameInfoRequest&)> cb) {
  std::string op = absl::StrCat("getnameinfo ", address.ToString());
  if (!cb) return UvStatus(UV_EINVAL, op);
  if (address.family() != AF_INET && address.family() != AF_INET6) {
    return UvStatus(UV_EINVAL, op);
  }
  std::shared_ptr<GetNameInfoRequest> req(
      new GetNameInfoRequest(loop, address, std::move(cb)));
  int rc = uv_getnameinfo(loop.raw(), &req->req_, &GetNameInfoRequest::OnDone,
                          req->address_.sockaddr_ptr(), flags);
  if (rc < 0) return UvStatus(rc, op);
  Request::Submitted(req);
  return req;
}

}  // namespace dns
}  // namespace loop
}  // namespace evergreen
