#include "runtime/channel.h"

#include "runtime/task.h"

namespace evergreen {
namespace runtime {

using runtime_internal::PendingGroup;
using runtime_internal::SelectCaseImpl;

absl::StatusOr<size_t> Select(std::vector<SelectCase> cases,
                              Deadline deadline) {
  const size_t n = cases.size();
  if (n == 0) return absl::InvalidArgumentError("select: no cases");
  // `cases` keeps the impls alive for the whole call.
  std::vector<SelectCaseImpl*> impls;
  impls.reserve(n);
  for (SelectCase& c : cases) {
    if (c.impl_ == nullptr) {
      return absl::InvalidArgumentError("select: empty case");
    }
    if (c.impl_->used) {
      return absl::InvalidArgumentError(
          "select: a case was already used (a case serves one select)");
    }
    c.impl_->used = true;
    impls.push_back(c.impl_.get());
  }
  // Ready cases take turns across Selects: start at a rotating index.
  thread_local size_t rotation = 0;
  const size_t start = rotation++ % n;
  bool open = false;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    SelectCaseImpl& c = *impls[i];
    if (c.Closed()) continue;
    open = true;
    if (c.TryNow()) {
      c.Finish();
      return i;
    }
  }
  if (!open) {
    return absl::FailedPreconditionError("select: all channels closed");
  }
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("select", &me); !s.ok()) {
    return s;
  }

  // Wait in every open channel; the group (declared after `cases`) unlinks
  // the ops before the impls go.
  PendingGroup group(me);
  std::vector<bool> registered(n, false);
  for (size_t i = 0; i < n; ++i) {
    SelectCaseImpl& c = *impls[i];
    if (c.Closed()) continue;
    c.Register(group);
    registered[i] = true;
  }
  // A rendezvous send case may pair with a waiting receiver at once.
  for (size_t k = 0; k < n && group.state() == PendingGroup::State::kWaiting;
       ++k) {
    const size_t i = (start + k) % n;
    if (registered[i]) impls[i]->DispatchOwner();
  }
  auto matched_index = [&]() -> size_t {
    for (size_t i = 0; i < n; ++i) {
      if (impls[i]->op() == group.matched()) return i;
    }
    return n;
  };
  // Leaving with a match not claimed (kill, cancellation, deadline): undo
  // it, so nothing is lost.
  struct Unclaimed {
    PendingGroup* group;
    std::vector<SelectCaseImpl*>* impls;
    bool claimed = false;
    ~Unclaimed() {
      if (claimed || group->matched() == nullptr) return;
      for (SelectCaseImpl* c : *impls) {
        if (c->op() == group->matched()) c->Undo();
      }
    }
  } unclaimed{&group, &impls};
  try {
    group.Wait(deadline);
  } catch (const Cancelled&) {
    // A send case that delivered before the cancellation reached this task
    // completed; the scope stays cancelled and raises at its next blocking
    // call. Anything else is undone.
    if (group.state() != PendingGroup::State::kDone) throw;
    size_t i = matched_index();
    if (i == n || !impls[i]->is_send()) throw;
  }
  switch (group.state()) {
    case PendingGroup::State::kDone: {
      const size_t i = matched_index();
      SelectCaseImpl& c = *impls[i];
      c.Claim();
      unclaimed.claimed = true;
      c.Finish();
      return i;
    }
    case PendingGroup::State::kFailed:
      return absl::FailedPreconditionError("select: all channels closed");
    default:
      return runtime_internal::DeadlineError("select");
  }
}

}  // namespace runtime
}  // namespace evergreen
