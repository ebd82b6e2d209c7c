// loop/callback_slots.h: CallbackSlots, where a handle keeps its user
// callback so that libuv's callback reaches it with no indirect call of its
// own. Implementation detail of the handles (Timer); not for users.
//
//   class Timer final : public Handle {
//     template <typename D>
//     static void OnTimer(uv_timer_t* raw) {  // libuv's callback
//       Timer* self = ...;
//       loop_internal::CallbackSlots<Timer>::Run<D>(self->slots_, *self);
//     }
//     loop_internal::CallbackSlots<Timer> slots_;
//   };
//   slots_.Set(std::forward<F>(cb));  // Start: store or replace the callback
//   uv_timer_start(&timer_, &OnTimer<std::decay_t<F>>, ...);
//
// Loop thread only.
#ifndef EVERGREEN_LOOP_CALLBACK_SLOTS_H_
#define EVERGREEN_LOOP_CALLBACK_SLOTS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace evergreen {
namespace loop {
namespace loop_internal {

template <typename T>
struct IsStdFunction : std::false_type {};
template <typename Sig>
struct IsStdFunction<std::function<Sig>> : std::true_type {};

// IsNullCallable returns true for a null function or member pointer and an
// empty std::function, the callables a handle refuses (InvalidArgument).
template <typename F>
bool IsNullCallable(const F& f) {
  if constexpr (std::is_pointer_v<F> || std::is_member_pointer_v<F>) {
    return f == nullptr;
  } else if constexpr (IsStdFunction<F>::value) {
    return !f;
  } else {
    return false;
  }
}

// CallbackSlots holds a handle's callback, a callable as void(H&), in place
// (up to 32 bytes, else on the heap): storing one allocates nothing, and
// libuv calls a function made for the callable's type (Run<D>), so that
// dispatch makes no indirect call of its own.
//
// Replacing the callback from inside itself (a timer restarting itself with
// a new callback) must neither destroy nor overwrite the running one:
// - A small callable that is trivially copyable and callable as const (a
//   lambda capturing pointers, references or numbers, not `mutable`; a
//   function pointer) is copied out of the slot to the stack and called
//   there, so the slot is free to be replaced while it runs. The copy is
//   unobservable: the call is the same, and destroying it is a no-op.
// - Any other callable is called in place. While it runs, the first Set
//   switches to the other slot (kReplaced); the running callable is released
//   right after it returned (also after an exception).
//
// Exceptions thrown by the callback go to h.loop()'s exception handler
// (through Loop::Invoke). H must have a `Loop& loop() const` (every Handle
// does).
//
// Run<D> must only be called while D is the stored callable's type: a
// handle gives libuv the Run<D> caller right after each Set<F>.
template <typename H>
class CallbackSlots {
  static constexpr size_t kSize = 32;
  static constexpr size_t kAlign = alignof(std::max_align_t);

  // Stored in place: fits, and moves without throwing (the heap path needs
  // no move; the in-place one moves the temporary of a throwing copy).
  template <typename D>
  static constexpr bool kFits =
      sizeof(D) <= kSize &&
      alignof(D) <= kAlign&& std::is_nothrow_move_constructible_v<D>;

 public:
  // kCopied<D>: a stored D is called on a copy (see above); it is trivially
  // copyable, small, and destroying it is a no-op.
  template <typename D>
  static constexpr bool kCopied = kFits<D>&& std::is_trivially_copyable_v<D>&&
      std::is_copy_constructible_v<D>&& std::is_trivially_destructible_v<D>&&
          std::is_invocable_v<const D&, H&>;

  CallbackSlots() = default;
  CallbackSlots(const CallbackSlots&) = delete;
  CallbackSlots& operator=(const CallbackSlots&) = delete;
  ~CallbackSlots() {
    slots_[0].Reset();
    slots_[1].Reset();
  }

  // Set stores `f` (invocable as void(H&), not null) as the callback,
  // releasing the previous one unless it is running (see above). If
  // constructing the stored copy throws, the previous callback stays.
  template <typename F>
  void Set(F&& f) noexcept(kNothrowSet<F>) {
    if (CanSetFast<F>()) {
      SetFast(std::forward<F>(f));
    } else {
      SetSlow(std::forward<F>(f));
    }
  }

  // kNothrowSet<F>: Set<F> cannot throw (the callable is stored in place
  // and constructing it cannot throw).
  template <typename F>
  static constexpr bool kNothrowSet = kFits<std::decay_t<F>>&&
      std::is_nothrow_constructible_v<std::decay_t<F>, F&&>;

  // CanSetFast returns whether SetFast<F> may store an F: a copied callable
  // while nothing runs in place and the current slot has nothing to
  // destroy (a copied callable that is running has been copied).
  template <typename F>
  bool CanSetFast() const {
    using D = std::decay_t<F>;
    if constexpr (kCopied<D> && std::is_nothrow_constructible_v<D, F&&>) {
      return ABSL_PREDICT_TRUE(flags_ == 0);
    } else {
      return false;
    }
  }

  // SetFast is Set when CanSetFast<F>() returned true: one store.
  template <typename F>
  void SetFast(F&& f) noexcept {
    using D = std::decay_t<F>;
    if constexpr (kCopied<D> && std::is_nothrow_constructible_v<D, F&&>) {
      ::new (static_cast<void*>(current_->buf)) D(std::forward<F>(f));
    }
  }

  // Run calls the stored callable, of type D, on `h`.
  template <typename D>
  static void Run(CallbackSlots& self, H& h) {
    Slot* s = self.current_;
    if constexpr (kCopied<D>) {
      D f = *std::launder(reinterpret_cast<const D*>(s->buf));
      h.loop().Invoke([&] { std::invoke(f, h); });
    } else {
      D* f;
      if constexpr (kFits<D>) {
        f = std::launder(reinterpret_cast<D*>(s->buf));
      } else {
        f = *std::launder(reinterpret_cast<D**>(s->buf));
      }
      self.flags_ |= kRunning;
      h.loop().Invoke([&] { std::invoke(*f, h); });
      // Set replaced it while it ran: the new one is in the other slot.
      if (ABSL_PREDICT_FALSE((self.flags_ & kReplaced) != 0)) s->Reset();
      self.flags_ &= ~(kRunning | kReplaced);
    }
  }

 private:
  struct Slot {
    // destroy destroys the callable in buf; null when there is nothing to
    // destroy.
    void (*destroy)(Slot*) = nullptr;
    alignas(kAlign) unsigned char buf[kSize];

    void Reset() {
      if (destroy != nullptr) {
        destroy(this);
        destroy = nullptr;
      }
    }
  };
  // flags_: an in-place callable runs (kRunning); Set moved to the other
  // slot meanwhile (kReplaced); the current slot has a destroy (kOwning).
  // Zero is Set's fast path.
  static constexpr uint8_t kRunning = 1;
  static constexpr uint8_t kReplaced = 2;
  static constexpr uint8_t kOwning = 4;

  template <typename F>
  ABSL_ATTRIBUTE_NOINLINE void SetSlow(F&& f) noexcept(kNothrowSet<F>) {
    using D = std::decay_t<F>;
    if constexpr (kFits<D> && std::is_nothrow_constructible_v<D, F&&>) {
      Emplace<D>(Target(), std::forward<F>(f));
    } else if constexpr (kFits<D>) {  // may throw: before touching the slot
      D tmp(std::forward<F>(f));
      Emplace<D>(Target(), std::move(tmp));
    } else {
      D* heap = new D(std::forward<F>(f));
      Slot* s = Target();
      s->Reset();
      ::new (static_cast<void*>(s->buf)) D*(heap);
      s->destroy = &DestroyHeap<D>;
      flags_ |= kOwning;
    }
  }

  // Target returns the slot Set writes: the current one, or the other one
  // (which is empty) while an in-place callable runs.
  Slot* Target() {
    if ((flags_ & (kRunning | kReplaced)) == kRunning) {  // keep it alive
      current_ = current_ == &slots_[0] ? &slots_[1] : &slots_[0];
      flags_ = kRunning | kReplaced;  // the new current slot is empty
    }
    return current_;
  }

  template <typename D, typename Arg>
  void Emplace(Slot* s, Arg&& arg) {
    s->Reset();
    flags_ &= ~kOwning;
    ::new (static_cast<void*>(s->buf)) D(std::forward<Arg>(arg));
    if constexpr (!std::is_trivially_destructible_v<D>) {
      s->destroy = &DestroyInPlace<D>;
      flags_ |= kOwning;
    }
  }

  template <typename D>
  static void DestroyInPlace(Slot* s) {
    std::launder(reinterpret_cast<D*>(s->buf))->~D();
  }

  template <typename D>
  static void DestroyHeap(Slot* s) {
    delete *std::launder(reinterpret_cast<D**>(s->buf));
  }

  Slot slots_[2];
  Slot* current_ = &slots_[0];
  uint8_t flags_ = 0;
};

}  // namespace loop_internal
}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_CALLBACK_SLOTS_H_
