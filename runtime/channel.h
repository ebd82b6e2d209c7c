// runtime/channel.h: Channel, a Stackless-style channel between tasks
// (rendezvous by default, or buffered), and Select over several channels.
//
//   evergreen::runtime::Channel<int> ch;      // rendezvous
//   // task A:
//   absl::Status s = ch.Send(42);   // blocks until a receiver took 42
//   ch.Close();
//   // task B:
//   absl::StatusOr<int> v = ch.Receive();     // blocks until a sender comes
//   for (int x : ch) Use(x);        // receives until the channel is closed
//
//   // Waiting on several channels:
//   absl::StatusOr<std::pair<size_t, int>> got =
//       evergreen::runtime::SelectReceive<int>({&a, &b});
//   absl::StatusOr<size_t> which = evergreen::runtime::Select(
//       {a.OnReceive([](int v) { Use(v); }), names.OnSend("x")});
//
// Rendezvous (capacity 0): Send blocks until a Receive returned its value;
// Receive blocks until a sender comes. Buffered (capacity n > 0): Send
// blocks only while n values are buffered; values come out in send order.
//
// The delivery rule: a Send succeeds exactly when its value was delivered,
// i.e. a Receive (or a Select receive case) returned it, or, buffered, it
// entered the buffer. So:
// - A Send that fails (deadline, cancellation, kill, close) leaves no value
//   behind: a rendezvous value handed to a receiver that has not resumed
//   yet is taken back from it (the receiver waits on at its place).
// - A Send whose value was delivered returns OK even if its deadline or a
//   cancellation arrives right after (the cancelled scope raises at its next
//   blocking call); a kill unwinds the sender, the value stays delivered.
// - A receiver killed or cancelled after a value was handed to it but before
//   it resumed does not take the value with it: a rendezvous value goes back
//   to its sender (still blocked, at its place), a buffered one to the front
//   of the buffer. A per-call deadline racing with a hand-off: the value
//   wins.
// No value is ever lost or received twice.
//
// Errors (FAILED_PRECONDITION unless said): "channel send: closed",
// "channel receive: closed" (closed and, buffered, drained),
// "channel send: not in a task" (a call that would block outside a task),
// DEADLINE_EXCEEDED "channel receive: deadline exceeded" (per-call deadline;
// a scope's timeout is an exception, see runtime/cancel.h).
//
// Fairness: blocked senders are served in the order they blocked, and so
// are blocked receivers. The channel must outlive the calls blocked on it.
// Loop thread only.
#ifndef EVERGREEN_RUNTIME_CHANNEL_H_
#define EVERGREEN_RUNTIME_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/cancel.h"
#include "runtime/deadline.h"
#include "runtime/queue.h"

namespace evergreen {
namespace runtime {

class Task;
class SelectCase;

namespace runtime_internal {

// SelectCaseImpl: one case of a Select (a receive or a send on one
// channel).
class SelectCaseImpl {
 public:
  virtual ~SelectCaseImpl() = default;
  // Closed: the case can never complete.
  virtual bool Closed() const = 0;
  // TryNow completes the case now if it can without waiting.
  virtual bool TryNow() = 0;
  // Register queues the case's op in `group`; DispatchOwner lets its
  // channel match it.
  virtual void Register(PendingGroup& group) = 0;
  virtual void DispatchOwner() = 0;
  virtual const PendingOp* op() const = 0;
  virtual bool is_send() const = 0;
  // Claim takes the result of the case's op, done in its group.
  virtual void Claim() = 0;
  // Undo gives back what the op was handed and not claimed.
  virtual void Undo() = 0;
  // Finish runs the case's callback (a received exception is rethrown).
  virtual void Finish() = 0;

  bool used = false;
};

}  // namespace runtime_internal

// Select waits until one of `cases` (made by Channel::OnReceive and
// Channel::OnSend) completes, completes only that one, runs its callback and
// returns its index. Cases whose channel is closed (a receive: closed and
// drained) are skipped.
//
// Fairness: when several cases can complete at the call, the first of them
// from a start index that rotates on every Select of the thread wins (so
// repeated Selects over ready channels take turns instead of always
// preferring index 0). When none can, the Select waits in every channel, in
// FIFO order with the other waiters, and the first channel to offer a match
// wins.
//
// Errors: INVALID_ARGUMENT "select: no cases" (or an empty or reused case:
// a case serves one Select); FAILED_PRECONDITION "select: all channels
// closed"; DEADLINE_EXCEEDED "select: deadline exceeded"; FAILED_PRECONDITION
// "select: not in a task" when it would block outside a task. A received
// exception (SendException) is rethrown, as is an exception from the
// callback. Kill and cancellation follow the channels' delivery rule (a
// send case that delivered counts as done even if cancelled right after).
absl::StatusOr<size_t> Select(std::vector<SelectCase> cases,
                              Deadline deadline = Deadline::Never());

// SelectCase: an opaque case for Select, from Channel::OnReceive/OnSend.
// Copyable (copies share the case); one Select may use it.
class SelectCase {
 public:
  explicit SelectCase(std::shared_ptr<runtime_internal::SelectCaseImpl> impl)
      : impl_(std::move(impl)) {}

 private:
  friend absl::StatusOr<size_t> Select(std::vector<SelectCase> cases,
                                       Deadline deadline);
  std::shared_ptr<runtime_internal::SelectCaseImpl> impl_;
};

template <typename T>
class Channel final : public runtime_internal::PendingOwner {
 public:
  using value_type = T;

  // capacity 0: rendezvous; n > 0: up to n values buffered.
  explicit Channel(size_t capacity = 0) : capacity_(capacity) {}
  // ~Channel fails the calls still waiting on it ("...: destroyed").
  ~Channel() override;

  // Send delivers `value` (see the delivery rule above): OK once a receiver
  // took it (buffered: once it is in the buffer). DEADLINE_EXCEEDED
  // "channel send: deadline exceeded", FAILED_PRECONDITION "channel send:
  // closed" (closed before or while waiting; the value was not delivered),
  // "channel send: not in a task" when it would block outside a task. On
  // failure `value` is destroyed. A rendezvous Send always blocks (until the
  // receiver resumes). Throws when the task is killed or cancelled before
  // delivery.
  absl::Status Send(T value, Deadline deadline = Deadline::Never());
  // SendException is Send of an exception: the Receive (or Select) that
  // takes it rethrows `error`. INVALID_ARGUMENT for a null `error`; other
  // errors as Send ("channel send exception: ...").
  absl::Status SendException(std::exception_ptr error,
                             Deadline deadline = Deadline::Never());
  // Receive takes the next value, blocking while there is none. Errors:
  // FAILED_PRECONDITION "channel receive: closed" once closed (and
  // drained), DEADLINE_EXCEEDED "channel receive: deadline exceeded",
  // "channel receive: not in a task" when it would block outside a task.
  // Rethrows a sent exception. Throws when the task is killed or cancelled
  // (a value handed to it goes back, see above).
  absl::StatusOr<T> Receive(Deadline deadline = Deadline::Never());
  // TryReceive takes a value only if one is ready (buffered, or a blocked
  // sender): UNAVAILABLE "channel receive: no value ready", or "channel
  // receive: closed". Callable from callbacks.
  absl::StatusOr<T> TryReceive();

  // balance: the number of ops blocked in Send minus the number blocked in
  // Receive (> 0: senders waiting, < 0: receivers waiting), Select cases
  // included; a sender whose value is on its way to a receiver that has not
  // resumed yet is not counted.
  int64_t balance() const {
    return static_cast<int64_t>(senders_.size()) -
           static_cast<int64_t>(receivers_.size());
  }
  // size: the values in the buffer (always 0 for a rendezvous channel).
  size_t size() const { return buffer_.size(); }
  size_t capacity() const { return capacity_; }

  // Close refuses further sends: blocked senders fail ("channel send:
  // closed", values not delivered); receivers drain the buffer, then fail
  // with "channel receive: closed", as do blocked receivers. Callable from
  // callbacks; closing twice has no effect.
  void Close();
  bool closed() const { return closed_; }

  // Iteration: `for (T& v : channel)` receives until Receive fails (closed,
  // normally: check closed() to tell). Blocks; tasks only.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;

    iterator() = default;
    T& operator*() { return *value_; }
    T* operator->() { return &*value_; }
    iterator& operator++() {
      Advance();
      return *this;
    }
    friend bool operator==(const iterator& a, const iterator& b) {
      return a.channel_ == b.channel_;
    }
    friend bool operator!=(const iterator& a, const iterator& b) {
      return !(a == b);
    }

   private:
    friend class Channel;
    explicit iterator(Channel* channel) : channel_(channel) { Advance(); }
    void Advance() {
      absl::StatusOr<T> next = channel_->Receive();
      if (next.ok()) {
        value_.emplace(std::move(*next));
      } else {
        value_.reset();
        channel_ = nullptr;
      }
    }
    Channel* channel_ = nullptr;
    std::optional<T> value_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

  // OnReceive makes a Select case receiving a value and passing it to
  // `on_value` (may be empty).
  SelectCase OnReceive(std::function<void(T)> on_value = nullptr) {
    return SelectCase(std::make_shared<ReceiveCase>(this, std::move(on_value)));
  }
  // OnSend makes a Select case sending `value`, then calling `on_sent` (may
  // be empty). The value is destroyed if another case wins.
  SelectCase OnSend(T value, std::function<void()> on_sent = nullptr) {
    return SelectCase(
        std::make_shared<SendCase>(this, std::move(value), std::move(on_sent)));
  }

 private:
  using Group = runtime_internal::PendingGroup;
  using Op = runtime_internal::PendingOp;
  enum : uint8_t { kSend, kReceive };
  struct Item {
    std::optional<T> value;
    std::exception_ptr error;
  };
  struct ReceiveOp;
  struct SendOp : Op {
    Item item;
    ReceiveOp* peer = nullptr;  // rendezvous: handed to, not yet claimed
  };
  struct ReceiveOp : Op {
    std::optional<Item> slot;  // a buffered value handed to it
    SendOp* peer = nullptr;    // rendezvous: the sender whose value it has
  };

  class ReceiveCase final : public runtime_internal::SelectCaseImpl {
   public:
    ReceiveCase(Channel* channel, std::function<void(T)> fn)
        : channel_(channel), fn_(std::move(fn)) {}
    bool Closed() const override {
      return channel_->closed_ && channel_->buffer_.empty();
    }
    bool TryNow() override { return channel_->TakeNow(&item_); }
    void Register(Group& group) override {
      op_.kind = kReceive;
      group.Add(&op_, channel_, &channel_->receivers_);
    }
    void DispatchOwner() override { channel_->Dispatch(); }
    const Op* op() const override { return &op_; }
    bool is_send() const override { return false; }
    void Claim() override { item_ = Channel::Claim(op_); }
    void Undo() override { Channel::GiveBack(op_); }
    void Finish() override {
      if (item_.error) std::rethrow_exception(item_.error);
      if (fn_) fn_(std::move(*item_.value));
    }

   private:
    Channel* channel_;
    std::function<void(T)> fn_;
    ReceiveOp op_;
    Item item_;
  };

  class SendCase final : public runtime_internal::SelectCaseImpl {
   public:
    SendCase(Channel* channel, T value, std::function<void()> fn)
        : channel_(channel), fn_(std::move(fn)) {
      op_.item.value.emplace(std::move(value));
    }
    bool Closed() const override { return channel_->closed_; }
    bool TryNow() override {
      if (!channel_->HasRoom()) return false;
      channel_->buffer_.push_back(std::move(op_.item));
      channel_->Dispatch();
      return true;
    }
    void Register(Group& group) override {
      op_.kind = kSend;
      group.Add(&op_, channel_, &channel_->senders_);
    }
    void DispatchOwner() override { channel_->Dispatch(); }
    const Op* op() const override { return &op_; }
    bool is_send() const override { return true; }
    void Claim() override {}
    void Undo() override { Channel::Withdraw(op_); }
    void Finish() override {
      if (fn_) fn_();
    }

   private:
    Channel* channel_;
    std::function<void()> fn_;
    SendOp op_;
  };

  void Dispatch() override;
  absl::Status ClosedStatus(const Op& op) const override {
    return runtime_internal::ClosedError(op.kind == kSend ? "channel send"
                                                          : "channel receive");
  }
  bool Accepts(const Op& op) const override {
    return !closed_ || (op.kind == kReceive && !buffer_.empty());
  }
  // HasRoom: a send can complete now without waiting (buffered, room, no
  // sender ahead).
  bool HasRoom() const {
    return capacity_ > 0 && senders_.empty() && buffer_.size() < capacity_;
  }
  absl::Status SendItem(Item item, Deadline deadline, absl::string_view name);
  // TakeNow takes a ready value (buffer, or a blocked rendezvous sender).
  bool TakeNow(Item* out);
  // Pair matches the first waiting sender with the first waiting receiver
  // of another call (rendezvous).
  bool Pair();
  static absl::StatusOr<T> Deliver(Item item) {
    if (item.error) std::rethrow_exception(item.error);
    return absl::StatusOr<T>(std::move(*item.value));
  }
  // Claim takes the value handed to a done receiver.
  static Item Claim(ReceiveOp& op);
  // GiveBack returns what a receiver was handed and did not claim.
  static void GiveBack(ReceiveOp& op);
  // Withdraw takes a sender's value back from the receiver it was handed
  // to, if that one has not claimed it.
  static void Withdraw(SendOp& op);

  size_t capacity_;
  std::deque<Item> buffer_;
  runtime_internal::PendingList senders_;
  runtime_internal::PendingList receivers_;
};

// SelectReceive receives from whichever of `channels` has a value first
// (Select over their OnReceive cases): the channel's index and the value.
// Errors as Select; INVALID_ARGUMENT for a null channel.
template <typename T>
absl::StatusOr<std::pair<size_t, T>> SelectReceive(
    const std::vector<Channel<T>*>& channels,
    Deadline deadline = Deadline::Never()) {
  std::vector<SelectCase> cases;
  cases.reserve(channels.size());
  std::optional<T> value;
  for (Channel<T>* channel : channels) {
    if (channel == nullptr) {
      return absl::InvalidArgumentError("select receive: null channel");
    }
    cases.push_back(
        channel->OnReceive([&value](T v) { value.emplace(std::move(v)); }));
  }
  absl::StatusOr<size_t> index = Select(std::move(cases), deadline);
  if (!index.ok()) return index.status();
  return std::pair<size_t, T>(*index, std::move(*value));
}

// ---------------------------------------------------------------------------
// Implementation.

template <typename T>
Channel<T>::~Channel() {
  closed_ = true;
  DropAll(senders_, runtime_internal::DestroyedError("channel send"));
  DropAll(receivers_, runtime_internal::DestroyedError("channel receive"));
  DetachParked();
}

template <typename T>
void Channel<T>::Dispatch() {
  for (;;) {
    if (!buffer_.empty() && !receivers_.empty()) {
      auto* receiver = static_cast<ReceiveOp*>(receivers_.front());
      receiver->slot.emplace(std::move(buffer_.front()));
      buffer_.pop_front();
      receiver->group->MatchAndComplete(receiver);
      continue;
    }
    if (capacity_ > 0) {
      if (senders_.empty() || buffer_.size() >= capacity_) return;
      auto* sender = static_cast<SendOp*>(senders_.front());
      buffer_.push_back(std::move(sender->item));
      sender->group->MatchAndComplete(sender);
      continue;
    }
    if (!Pair()) return;
  }
}

template <typename T>
bool Channel<T>::Pair() {
  for (Op* s = senders_.front(); s != nullptr; s = s->next) {
    for (Op* r = receivers_.front(); r != nullptr; r = r->next) {
      if (r->group == s->group) continue;  // one Select's send and receive
      auto* sender = static_cast<SendOp*>(s);
      auto* receiver = static_cast<ReceiveOp*>(r);
      sender->peer = receiver;
      receiver->peer = sender;
      // The sender stays blocked until the receiver claims the value.
      sender->group->Match(sender);
      receiver->group->MatchAndComplete(receiver);
      return true;
    }
  }
  return false;
}

template <typename T>
bool Channel<T>::TakeNow(Item* out) {
  if (!buffer_.empty()) {
    *out = std::move(buffer_.front());
    buffer_.pop_front();
    Dispatch();  // admits a blocked sender
    return true;
  }
  if (capacity_ == 0 && !senders_.empty()) {
    auto* sender = static_cast<SendOp*>(senders_.front());
    *out = std::move(sender->item);
    sender->group->MatchAndComplete(sender);
    return true;
  }
  return false;
}

template <typename T>
typename Channel<T>::Item Channel<T>::Claim(ReceiveOp& op) {
  Item item;
  if (op.peer != nullptr) {
    SendOp* sender = op.peer;
    item = std::move(sender->item);
    sender->peer = nullptr;
    op.peer = nullptr;
    sender->group->Complete();
  } else {
    item = std::move(*op.slot);
    op.slot.reset();
  }
  return item;
}

template <typename T>
void Channel<T>::GiveBack(ReceiveOp& op) {
  if (op.peer != nullptr) {
    SendOp* sender = op.peer;
    op.peer = nullptr;
    sender->peer = nullptr;
    sender->group->Unmatch();  // the sender waits on at its place
    return;
  }
  if (!op.slot.has_value()) return;
  if (op.owner != nullptr) {
    auto* channel = static_cast<Channel*>(op.owner);
    channel->buffer_.push_front(std::move(*op.slot));
    op.slot.reset();
    channel->Dispatch();
  }
  op.slot.reset();  // the channel is gone
}

template <typename T>
void Channel<T>::Withdraw(SendOp& op) {
  if (op.peer == nullptr) return;
  ReceiveOp* receiver = op.peer;
  op.peer = nullptr;
  receiver->peer = nullptr;
  receiver->group->Unmatch();  // the receiver waits on at its place
}

template <typename T>
absl::Status Channel<T>::SendItem(Item item, Deadline deadline,
                                  absl::string_view name) {
  if (closed_) return runtime_internal::ClosedError(name);
  if (HasRoom()) {
    buffer_.push_back(std::move(item));
    Dispatch();
    return absl::OkStatus();
  }
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask(name, &me); !s.ok()) {
    return s;
  }
  SendOp op;
  op.kind = kSend;
  op.item = std::move(item);
  Group group(me);
  group.Add(&op, this, &senders_);
  Dispatch();  // rendezvous: pairs with a waiting receiver
  // Leaving before the receiver claimed the value: take it back.
  struct Undelivered {
    SendOp* op;
    ~Undelivered() { Withdraw(*op); }
  } undelivered{&op};
  try {
    group.Wait(deadline);
  } catch (const Cancelled&) {
    // Delivered before the cancellation reached this task: the send
    // happened. The scope stays cancelled; its next blocking call raises.
    if (group.state() == Group::State::kDone) return absl::OkStatus();
    throw;
  }
  switch (group.state()) {
    case Group::State::kDone:
      return absl::OkStatus();
    case Group::State::kFailed:
      return group.status();
    default:
      return runtime_internal::DeadlineError(name);
  }
}

template <typename T>
absl::Status Channel<T>::Send(T value, Deadline deadline) {
  Item item;
  item.value.emplace(std::move(value));
  return SendItem(std::move(item), deadline, "channel send");
}

template <typename T>
absl::Status Channel<T>::SendException(std::exception_ptr error,
                                       Deadline deadline) {
  if (error == nullptr) {
    return absl::InvalidArgumentError("channel send exception: null exception");
  }
  Item item;
  item.error = std::move(error);
  return SendItem(std::move(item), deadline, "channel send exception");
}

template <typename T>
absl::StatusOr<T> Channel<T>::Receive(Deadline deadline) {
  Item item;
  if (TakeNow(&item)) return Deliver(std::move(item));
  if (closed_) return runtime_internal::ClosedError("channel receive");
  Task* me = nullptr;
  if (absl::Status s = runtime_internal::CheckInTask("channel receive", &me);
      !s.ok()) {
    return s;
  }
  ReceiveOp op;
  op.kind = kReceive;
  Group group(me);
  group.Add(&op, this, &receivers_);
  // Leaving without claiming what was handed (kill, cancellation): give it
  // back.
  struct Unclaimed {
    ReceiveOp* op;
    ~Unclaimed() { GiveBack(*op); }
  } unclaimed{&op};
  group.Wait(deadline);
  switch (group.state()) {
    case Group::State::kDone:
      return Deliver(Claim(op));
    case Group::State::kFailed:
      return group.status();
    default:
      return runtime_internal::DeadlineError("channel receive");
  }
}

template <typename T>
absl::StatusOr<T> Channel<T>::TryReceive() {
  Item item;
  if (TakeNow(&item)) return Deliver(std::move(item));
  if (closed_) return runtime_internal::ClosedError("channel receive");
  return absl::UnavailableError("channel receive: no value ready");
}

template <typename T>
void Channel<T>::Close() {
  if (closed_) return;
  closed_ = true;
  DropAll(senders_, runtime_internal::ClosedError("channel send"));
  // Receivers wait only while the buffer is empty.
  DropAll(receivers_, runtime_internal::ClosedError("channel receive"));
  // A Select case parked here while its Select matched elsewhere is dropped
  // if that match is undone (PendingGroup::Unmatch asks Accepts).
}

}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_CHANNEL_H_
