#include "local_storage/fiber_local.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fibers/fiber.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "local_storage/internal/storage.h"

namespace evergreen {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Fiber> Spawn(std::function<void()> f, Fiber* parent = nullptr) {
  FiberOptions options;
  options.parent = parent;
  absl::StatusOr<std::unique_ptr<Fiber>> fiber =
      Fiber::Create(std::move(options), std::move(f));
  EXPECT_TRUE(fiber.ok()) << fiber.status();
  return std::move(fiber).value();
}

// Suspends the current fiber, resuming its parent.
void Yield() { Fiber::Current()->parent()->Switch(); }

// Counts constructions (default and copies) and destructions of values, and
// records the fiber each destructor ran on. Distinct Tags count separately.
// Atomic: the thread tests share them.
template <int Tag>
struct Tracked {
  static inline std::atomic<int> constructed{0};
  static inline std::atomic<int> copied{0};
  static inline std::atomic<int> destroyed{0};
  static inline std::atomic<Fiber*> last_destroyed_on{nullptr};
  static void ResetCounts() {
    constructed = 0;
    copied = 0;
    destroyed = 0;
    last_destroyed_on = nullptr;
  }
  static int alive() { return constructed + copied - destroyed; }

  Tracked() { ++constructed; }
  explicit Tracked(int v) : value(v) { ++constructed; }
  Tracked(const Tracked& other) : value(other.value) { ++copied; }
  Tracked& operator=(const Tracked&) = default;
  ~Tracked() {
    ++destroyed;
    last_destroyed_on = fibers_internal::LocalStorageAccess::CurrentOrNull();
  }

  int value = 0;
};
using A = Tracked<0>;
using B = Tracked<1>;

class FiberLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    A::ResetCounts();
    B::ResetCounts();
  }
};

TEST_F(FiberLocalTest, LazyPerFiberAndInMainFiber) {
  {
    FiberLocal<A> local;
    EXPECT_FALSE(local.HasValue());
    EXPECT_EQ(A::constructed, 0);
    local->value = 1;  // the main fiber's value
    EXPECT_TRUE(local.HasValue());
    EXPECT_EQ(A::constructed, 1);
    EXPECT_EQ(&local.Get(), &*local);

    bool checked = false;
    auto fiber = Spawn([&] {
      EXPECT_FALSE(local.HasValue());
      EXPECT_EQ(local.Get().value, 0);  // its own, fresh value
      local->value = 2;
      Yield();
      EXPECT_EQ(local->value, 2);
      checked = true;
    });
    EXPECT_EQ(A::constructed, 1);  // not before first access in the fiber
    fiber->Switch();
    EXPECT_EQ(A::constructed, 2);
    EXPECT_EQ(local->value, 1);
    local->value = 3;
    fiber->Switch();
    EXPECT_TRUE(checked);
    EXPECT_EQ(A::destroyed, 1);    // the fiber's, when it finished
    EXPECT_EQ(A::constructed, 2);  // repeated access made no new value
    EXPECT_EQ(local->value, 3);
  }
  EXPECT_EQ(A::destroyed, 2);  // the main fiber's, with the FiberLocal
  EXPECT_EQ(A::alive(), 0);
}

// The lookup reads the current fiber's storage through a per-thread mirror
// that every switch updates: values stay right when a fiber's storage grows
// while it runs and across switches, and a thread that never used fibers
// sees no value.
TEST_F(FiberLocalTest, ValuesSurviveStorageGrowthAndSwitches) {
  // More than the first storage's 16 entries, and than the 15 fast slots
  // (storage.h): the later locals take the bounds-checked path.
  constexpr int kLocals = 40;
  std::vector<std::unique_ptr<FiberLocal<int>>> locals;
  for (int i = 0; i < kLocals; ++i) {
    locals.push_back(std::make_unique<FiberLocal<int>>());
  }
  Fiber* main = Fiber::Current();
  auto fiber = Fiber::Create([&] {
    for (int i = 0; i < kLocals; ++i) {
      locals[i]->Get() = 1000 + i;  // the storage grows on the way
      main->Switch();
    }
    for (int i = 0; i < kLocals; ++i) {
      EXPECT_EQ(locals[i]->Get(), 1000 + i);
    }
  });
  ASSERT_TRUE(fiber.ok());
  for (int i = 0; i < kLocals; ++i) {
    (*fiber)->Switch();
    EXPECT_FALSE(locals[i]->HasValue());  // the main fiber has none
    locals[i]->Get() = i;
  }
  (*fiber)->Switch();  // checks its values and finishes
  EXPECT_FALSE((*fiber)->IsAlive());
  for (int i = 0; i < kLocals; ++i) EXPECT_EQ(locals[i]->Get(), i);
  std::thread([&] {
    for (int i = 0; i < kLocals; ++i) EXPECT_FALSE(locals[i]->HasValue());
    // Fast slots read kNoLocalStorage's zero words here, then create.
    for (int i = 0; i < kLocals; ++i) EXPECT_EQ(locals[i]->Get()++, 0);
    for (int i = 0; i < kLocals; ++i) EXPECT_EQ(locals[i]->Get(), 1);
  }).join();
  for (int i = 0; i < kLocals; ++i) EXPECT_EQ(locals[i]->Get(), i);
}

TEST_F(FiberLocalTest, ResetDestroysOnlyTheCurrentFibersValue) {
  FiberLocal<A> local;
  local->value = 5;
  auto fiber = Spawn([&] {
    local->value = 6;
    Yield();
    EXPECT_EQ(local->value, 6);
    local.Reset();
    EXPECT_FALSE(local.HasValue());
  });
  fiber->Switch();
  local.Reset();
  EXPECT_FALSE(local.HasValue());
  EXPECT_EQ(A::destroyed, 1);
  local.Reset();  // no value: nothing happens
  EXPECT_EQ(A::destroyed, 1);
  EXPECT_EQ(local->value, 0);  // a new one
  EXPECT_EQ(A::constructed, 3);
  fiber->Switch();
  EXPECT_FALSE(fiber->IsAlive());
  EXPECT_EQ(A::destroyed, 2);
  EXPECT_EQ(A::alive(), 1);
}

// The ways a fiber holding a value can end.
enum class End { kReturn, kThrow, kKill, kKillItself, kDestroyUnfinished };

class FiberEndTest : public FiberLocalTest,
                     public ::testing::WithParamInterface<End> {};

TEST_P(FiberEndTest, ValuesDestroyedWhenFiberEnds) {
  FiberLocal<A> a;
  FiberLocal<B> b;
  int unwound = 0;
  Fiber* self = nullptr;
  auto fiber = Spawn([&] {
    struct Unwound {
      int* n;
      ~Unwound() { ++*n; }
    } unwound_guard{&unwound};
    self = Fiber::Current();
    a->value = 1;
    b->value = 2;
    Yield();
    switch (GetParam()) {
      case End::kThrow:
        throw std::runtime_error("boom");
      case End::kKillItself:
        (void)Fiber::Current()->Kill();
        break;
      default:
        break;
    }
  });
  fiber->Switch();
  EXPECT_EQ(A::constructed + B::constructed, 2);
  EXPECT_EQ(A::destroyed + B::destroyed, 0);
  switch (GetParam()) {
    case End::kReturn:
    case End::kKillItself:
      fiber->Switch();
      break;
    case End::kThrow:
      EXPECT_THROW(fiber->Switch(), std::runtime_error);
      break;
    case End::kKill:
      EXPECT_TRUE(fiber->Kill().ok());
      break;
    case End::kDestroyUnfinished:
      fiber.reset();
      break;
  }
  EXPECT_EQ(unwound, 1);
  EXPECT_EQ(A::destroyed, 1);
  EXPECT_EQ(B::destroyed, 1);
  // On the fiber itself, while it was still current.
  EXPECT_EQ(A::last_destroyed_on, self);
  EXPECT_EQ(B::last_destroyed_on, self);
  fiber.reset();
  EXPECT_EQ(A::alive() + B::alive(), 0);
  EXPECT_FALSE(a.HasValue());  // the main fiber never made one
}

INSTANTIATE_TEST_SUITE_P(AllEnds, FiberEndTest,
                         ::testing::Values(End::kReturn, End::kThrow,
                                           End::kKill, End::kKillItself,
                                           End::kDestroyUnfinished));

TEST_F(FiberLocalTest, UnstartedFiberWithInheritedValue) {
  FiberLocal<A> local(FiberLocalOptions{/*inherit=*/true});
  local->value = 7;
  auto destroyed_unstarted = Spawn([] {});
  auto killed_unstarted = Spawn([] {});
  EXPECT_EQ(A::copied, 2);  // copied when each fiber was created
  destroyed_unstarted.reset();
  EXPECT_EQ(A::destroyed, 1);
  EXPECT_TRUE(killed_unstarted->Kill().ok());  // finishes without running
  EXPECT_EQ(A::destroyed, 2);
  killed_unstarted.reset();
  EXPECT_EQ(A::destroyed, 2);
  EXPECT_EQ(local->value, 7);
  EXPECT_EQ(A::alive(), 1);
}

TEST_F(FiberLocalTest, FiberLocalDestroyedBeforeItsFibers) {
  auto local = std::make_unique<FiberLocal<A>>();
  FiberLocal<B> other;
  std::vector<std::unique_ptr<Fiber>> fibers;
  int finished = 0;
  for (int i = 0; i < 10; ++i) {
    fibers.push_back(Spawn([&, i] {
      (*local)->value = i;
      other->value = i;
      Yield();
      EXPECT_EQ(other->value, i);  // untouched by the other local's death
      ++finished;
    }));
    fibers.back()->Switch();
  }
  (*local)->value = -1;
  EXPECT_EQ(A::constructed, 11);
  local.reset();
  EXPECT_EQ(A::destroyed, 11);  // every fiber's, and the main fiber's
  EXPECT_EQ(B::destroyed, 0);
  for (auto& fiber : fibers) fiber->Switch();
  EXPECT_EQ(finished, 10);
  EXPECT_EQ(A::destroyed, 11);  // nothing destroyed twice
  EXPECT_EQ(B::destroyed, 10);
  fibers.clear();
  EXPECT_EQ(A::alive(), 0);
}

// A one-shot gate between threads.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST_F(FiberLocalTest, FiberLocalDestroyedFirstAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kFibers = 5;
  auto local = std::make_unique<FiberLocal<A>>();
  std::vector<Gate> ready(kThreads);
  Gate destroyed;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      (*local)->value = t;  // this thread's main fiber
      std::vector<std::unique_ptr<Fiber>> fibers;
      for (int i = 0; i < kFibers; ++i) {
        fibers.push_back(Spawn([&] {
          (*local)->value = 1;
          Yield();
        }));
        fibers.back()->Switch();
      }
      ready[t].Open();
      destroyed.Wait();
      for (auto& fiber : fibers) fiber->Switch();  // they end, value-less
    });
  }
  for (Gate& gate : ready) gate.Wait();
  EXPECT_EQ(A::constructed, kThreads * (kFibers + 1));
  EXPECT_EQ(A::destroyed, 0);
  local.reset();
  EXPECT_EQ(A::destroyed, kThreads * (kFibers + 1));
  destroyed.Open();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(A::destroyed, kThreads * (kFibers + 1));
  EXPECT_EQ(A::alive(), 0);
}

TEST_F(FiberLocalTest, TwoLocalsOfOneTypeAreIndependent) {
  FiberLocal<int> x;
  FiberLocal<int> y;
  x.Get() = 1;
  EXPECT_FALSE(y.HasValue());
  y.Get() = 2;
  EXPECT_EQ(*x, 1);
  auto fiber = Spawn([&] {
    EXPECT_FALSE(x.HasValue());
    EXPECT_FALSE(y.HasValue());
    *y = 20;
    EXPECT_FALSE(x.HasValue());
    *x = 10;
    y.Reset();
    EXPECT_EQ(*x, 10);
    EXPECT_FALSE(y.HasValue());
  });
  fiber->Switch();
  EXPECT_EQ(*x, 1);
  EXPECT_EQ(*y, 2);
}

TEST_F(FiberLocalTest, ReusedSlotShowsNoStaleValue) {
  auto first = std::make_unique<FiberLocal<int>>();
  **first = 42;
  auto fiber = Spawn([&] {
    **first = 43;
    Yield();
    auto second = std::make_unique<FiberLocal<int>>();
    EXPECT_FALSE(second->HasValue());
    EXPECT_EQ(**second, 0);
  });
  fiber->Switch();
  size_t slots = local_storage_internal::SlotCountForTesting();
  first.reset();
  FiberLocal<int> reuse;  // takes the freed index
  EXPECT_EQ(local_storage_internal::SlotCountForTesting(), slots);
  EXPECT_FALSE(reuse.HasValue());
  EXPECT_EQ(*reuse, 0);
  fiber->Switch();  // its `second` also reuses an index; also no value
  EXPECT_FALSE(fiber->IsAlive());
}

TEST_F(FiberLocalTest, ManyThreadsEachWithFibers) {
  constexpr int kThreads = 6;
  constexpr int kFibers = 20;
  constexpr int kRounds = 50;
  FiberLocal<A> local;
  std::atomic<int> mismatches{0};
  std::vector<int> thread_destroyed_before_exit(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      local->value = -t;
      std::vector<std::unique_ptr<Fiber>> fibers;
      for (int i = 0; i < kFibers; ++i) {
        int id = t * 1000 + i;
        fibers.push_back(Spawn([&, id] {
          for (int r = 0; r < kRounds; ++r) {
            if (local->value != r * 100000 + (r == 0 ? 0 : id)) ++mismatches;
            local->value = (r + 1) * 100000 + id;
            Yield();
          }
        }));
      }
      for (int r = 0; r < kRounds; ++r) {
        for (auto& fiber : fibers) fiber->Switch();
        if (local->value != -t) ++mismatches;
      }
      for (auto& fiber : fibers) fiber->Switch();  // they finish
      for (auto& fiber : fibers) {
        if (fiber->IsAlive()) ++mismatches;
      }
      // The main fiber's value remains until the thread exits.
      if (!local.HasValue()) ++mismatches;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(A::constructed, kThreads * (kFibers + 1));
  EXPECT_EQ(A::destroyed, kThreads * (kFibers + 1));
}

TEST_F(FiberLocalTest, MainFiberValueDestroyedAtThreadExit) {
  FiberLocal<A> local;
  FiberLocal<B> used_by_destructor;
  std::thread([&] { local->value = 1; }).join();
  EXPECT_EQ(A::constructed, 1);
  EXPECT_EQ(A::destroyed, 1);
  // A thread that uses FiberLocal before anything else of fibers.
  std::thread([&] {
    EXPECT_FALSE(local.HasValue());
    EXPECT_EQ(local->value, 0);
  }).join();
  EXPECT_EQ(A::destroyed, 2);
  EXPECT_EQ(A::alive(), 0);
}

TEST_F(FiberLocalTest, InheritanceOffByDefault) {
  FiberLocal<A> local;
  local->value = 5;
  auto fiber = Spawn([&] { EXPECT_EQ(local->value, 0); });
  EXPECT_EQ(A::copied, 0);
  fiber->Switch();
  EXPECT_EQ(A::constructed, 2);
  EXPECT_EQ(A::copied, 0);
}

TEST_F(FiberLocalTest, InheritedCopyIsIndependent) {
  FiberLocal<A> local(FiberLocalOptions{/*inherit=*/true});
  FiberLocal<B> not_inherited;
  local->value = 5;
  not_inherited->value = 5;
  std::unique_ptr<Fiber> grandchild;
  Fiber* main = Fiber::Current();
  auto child = Spawn([&] {
    EXPECT_TRUE(local.HasValue());
    EXPECT_FALSE(not_inherited.HasValue());
    EXPECT_EQ(local->value, 5);
    local->value = 6;
    // Copies the child's value (its creator's), whatever its parent.
    grandchild = Spawn([&] { EXPECT_EQ(local->value, 6); }, main);
    Yield();
    EXPECT_EQ(local->value, 6);
  });
  local->value = 9;  // after the copy: the child does not see it
  EXPECT_EQ(A::copied, 1);
  child->Switch();
  EXPECT_EQ(local->value, 9);
  EXPECT_EQ(A::copied, 2);
  grandchild->Switch();
  child->Switch();
  EXPECT_EQ(local->value, 9);
  EXPECT_EQ(A::destroyed, 2);
  // A creator without a value passes nothing on.
  local.Reset();
  auto orphan = Spawn([&] { EXPECT_FALSE(local.HasValue()); });
  orphan->Switch();
  EXPECT_EQ(A::copied, 2);
  EXPECT_EQ(A::alive(), 0);
}

TEST_F(FiberLocalTest, InitializerRunsOncePerFiber) {
  int calls = 0;
  FiberLocal<std::string> name([&calls] {
    ++calls;
    return "fiber" + std::to_string(calls);
  });
  EXPECT_EQ(*name, "fiber1");
  EXPECT_EQ(*name, "fiber1");
  auto fiber = Spawn([&] {
    EXPECT_EQ(*name, "fiber2");
    name->append("!");
    EXPECT_EQ(*name, "fiber2!");
  });
  fiber->Switch();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(name->size(), 6u);
}

TEST_F(FiberLocalTest, InitializerThatThrowsStoresNothing) {
  int calls = 0;
  FiberLocal<A> local([&calls]() -> A {
    if (++calls == 1) throw std::runtime_error("no value");
    return A(3);
  });
  EXPECT_THROW(local.Get(), std::runtime_error);
  EXPECT_FALSE(local.HasValue());
  EXPECT_EQ(local->value, 3);
  EXPECT_EQ(calls, 2);
}

// A value whose destructor uses another FiberLocal: on the dying fiber this
// creates a value there, which must be destroyed too.
struct Logger {
  static inline std::atomic<int> constructed{0};
  static inline std::atomic<int> destroyed{0};
  Logger() { ++constructed; }
  ~Logger() { ++destroyed; }
  int lines = 0;
};
FiberLocal<Logger>* logger_local = nullptr;

struct UsesLoggerOnDestruction {
  static inline std::atomic<int> destroyed{0};
  ~UsesLoggerOnDestruction() {
    ++(*logger_local)->lines;
    ++destroyed;
  }
};

TEST_F(FiberLocalTest, DestructorUsesAnotherFiberLocal) {
  Logger::constructed = 0;
  Logger::destroyed = 0;
  UsesLoggerOnDestruction::destroyed = 0;
  FiberLocal<Logger> logger;
  logger_local = &logger;
  FiberLocal<UsesLoggerOnDestruction> user;
  auto fiber = Spawn([&] { user.Get(); });
  fiber->Switch();  // the fiber ends: user's value makes a Logger, then dies
  EXPECT_EQ(UsesLoggerOnDestruction::destroyed, 1);
  EXPECT_EQ(Logger::constructed, 1);
  EXPECT_EQ(Logger::destroyed, 1);
  // The same at thread exit, for a main fiber.
  std::thread([&] { user.Get(); }).join();
  EXPECT_EQ(UsesLoggerOnDestruction::destroyed, 2);
  EXPECT_EQ(Logger::constructed, 2);
  EXPECT_EQ(Logger::destroyed, 2);
  // A killed fiber that had a Logger already: whichever of the two values
  // is released first, no Logger survives the fiber.
  auto killed = Spawn([&] {
    logger->lines = 1;
    user.Get();
    Yield();
  });
  killed->Switch();
  EXPECT_TRUE(killed->Kill().ok());
  EXPECT_EQ(UsesLoggerOnDestruction::destroyed, 3);
  EXPECT_GE(Logger::constructed, 3);
  EXPECT_EQ(Logger::destroyed, Logger::constructed);
  logger_local = nullptr;
}

// Two values that re-create each other forever: release gives up, reports.
struct PingPong;
FiberLocal<PingPong>* ping = nullptr;
FiberLocal<PingPong>* pong = nullptr;
struct PingPong {
  static inline int destroyed = 0;
  FiberLocal<PingPong>** self = nullptr;
  FiberLocal<PingPong>** other = nullptr;
  ~PingPong() {
    ++destroyed;
    if (other == nullptr || *other == nullptr) return;
    PingPong& next = ***other;  // a new value in the dying fiber
    next.self = other;
    next.other = self;
  }
};

TEST_F(FiberLocalTest, ReleaseThatDoesNotConvergeIsReported) {
  FiberLocal<PingPong> a;
  FiberLocal<PingPong> b;
  ping = &a;
  pong = &b;
  PingPong::destroyed = 0;
  auto fiber = Spawn([&] {
    a->other = &pong;
    a->self = &ping;
  });
  ::testing::internal::CaptureStderr();
  fiber->Switch();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("did not converge"));
  EXPECT_EQ(PingPong::destroyed, 16);  // one per round, then abandoned
  EXPECT_FALSE(fiber->IsAlive());
  ping = pong = nullptr;
}

// A value whose destructor throws.
struct Throws {
  static inline std::atomic<int> destroyed{0};
  ~Throws() noexcept(false) {
    ++destroyed;
    throw std::runtime_error("destructor failed");
  }
};

TEST_F(FiberLocalTest, DestructorThatThrowsIsReported) {
  Throws::destroyed = 0;
  auto throws = std::make_unique<FiberLocal<Throws>>();
  FiberLocal<A> after;   // its values are still destroyed
  FiberLocal<B> before;  // (both orders of release)
  ::testing::internal::CaptureStderr();
  auto fiber = Spawn([&] {
    before.Get();
    throws->Get();
    after.Get();
  });
  fiber->Switch();
  EXPECT_FALSE(fiber->IsAlive());
  EXPECT_EQ(Throws::destroyed, 1);
  EXPECT_EQ(A::destroyed, 1);
  EXPECT_EQ(B::destroyed, 1);
  // Reset, and the FiberLocal's own destruction, report too.
  throws->Get();
  throws->Reset();
  EXPECT_EQ(Throws::destroyed, 2);
  throws->Get();
  auto suspended = Spawn([&] {
    throws->Get();
    Yield();
  });
  suspended->Switch();
  throws.reset();
  EXPECT_EQ(Throws::destroyed, 4);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("destructor failed"));
  EXPECT_THAT(err, HasSubstr("in Reset()"));
  EXPECT_THAT(err, HasSubstr("while its FiberLocal was destroyed"));
  suspended->Switch();
  EXPECT_FALSE(suspended->IsAlive());
}

TEST_F(FiberLocalTest, CopyThatThrowsLeavesTheFiberWithoutTheValue) {
  struct BadCopy {
    BadCopy() = default;
    BadCopy(const BadCopy&) { throw std::runtime_error("no copy"); }
  };
  FiberLocal<BadCopy> local(FiberLocalOptions{/*inherit=*/true});
  local.Get();
  ::testing::internal::CaptureStderr();
  bool had_value = true;
  auto fiber = Spawn([&] { had_value = local.HasValue(); });
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("no copy"));
  fiber->Switch();
  EXPECT_FALSE(had_value);
}

}  // namespace
}  // namespace evergreen
