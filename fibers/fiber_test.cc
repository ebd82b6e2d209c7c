#include "fibers/fiber.h"

#include <valgrind/valgrind.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fibers/internal/stack_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace evergreen {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Fiber> Make(absl::StatusOr<std::unique_ptr<Fiber>> f) {
  EXPECT_TRUE(f.ok()) << f.status();
  return std::move(f).value();
}

template <typename F>
std::unique_ptr<Fiber> Spawn(F&& f, std::string name = "") {
  FiberOptions options;
  options.name = std::move(name);
  return Make(Fiber::Create(std::move(options), std::forward<F>(f)));
}

// Counts constructions and destructions of RAII objects on fiber stacks.
struct Tracked {
  static inline int alive = 0;
  static inline int destroyed = 0;
  Tracked() { ++alive; }
  ~Tracked() {
    --alive;
    ++destroyed;
  }
  Tracked(const Tracked&) = delete;
};

class FiberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tracked::alive = 0;
    Tracked::destroyed = 0;
  }
  void TearDown() override {
    EXPECT_EQ(Tracked::alive, 0);
    EXPECT_TRUE(Fiber::Current()->IsMain());
  }
};

// --- Creation, switching and values -----------------------------------------

TEST_F(FiberTest, DoesNotRunUntilSwitchedInto) {
  int runs = 0;
  auto f = Spawn([&] { ++runs; });
  EXPECT_EQ(runs, 0);
  EXPECT_TRUE(f->IsAlive());
  EXPECT_FALSE(f->IsStarted());
  f->Switch();
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, ArgumentsAreBoundAtCreation) {
  std::string s = "before";
  auto f = Make(Fiber::Create(
      [](std::string a, int b) { return a + ":" + std::to_string(b); }, s, 7));
  s = "after";
  EXPECT_EQ(std::any_cast<std::string>(f->Switch()), "before:7");
}

TEST_F(FiberTest, ValuesTravelBothWays) {
  Fiber* main = Fiber::Current();
  auto f = Spawn([main] {
    int got = std::any_cast<int>(main->Switch(std::string("first")));
    got = std::any_cast<int>(main->Switch(got * 10));
    return got + 1;
  });
  EXPECT_EQ(std::any_cast<std::string>(f->Switch()), "first");
  EXPECT_EQ(std::any_cast<int>(f->Switch(4)), 40);
  EXPECT_EQ(std::any_cast<int>(f->Switch(41)), 42);
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, VoidTargetDeliversEmptyValue) {
  auto f = Spawn([] {});
  EXPECT_FALSE(f->Switch().has_value());
}

TEST_F(FiberTest, TargetIsDestroyedWhenItFinishes) {
  auto token = std::make_shared<int>(1);
  Fiber* main = Fiber::Current();
  auto f = Spawn([token, main] { main->Switch(); });
  EXPECT_EQ(token.use_count(), 2);
  f->Switch();
  EXPECT_EQ(token.use_count(), 2);  // suspended: still bound
  f->Switch();
  EXPECT_EQ(token.use_count(), 1);  // finished: released, fiber still exists
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, CurrentIsTheRunningFiber) {
  Fiber* main = Fiber::Current();
  EXPECT_TRUE(main->IsMain());
  EXPECT_EQ(main->parent(), nullptr);
  EXPECT_TRUE(main->IsAlive());
  EXPECT_TRUE(main->IsStarted());
  Fiber* seen = nullptr;
  auto f = Spawn([&] { seen = Fiber::Current(); });
  f->Switch();
  EXPECT_EQ(seen, f.get());
  EXPECT_EQ(Fiber::Current(), main);
}

TEST_F(FiberTest, NamesAndIds) {
  auto a = Spawn([] {}, "worker");
  auto b = Spawn([] {});
  EXPECT_NE(a->id(), b->id());
  EXPECT_NE(a->id(), Fiber::Current()->id());
  EXPECT_EQ(a->name(), "worker");
  EXPECT_EQ(a->DebugName(),
            "fiber 'worker' (#" + std::to_string(a->id()) + ")");
  EXPECT_EQ(b->DebugName(), "fiber #" + std::to_string(b->id()));
}

TEST_F(FiberTest, StackSizeIsAtLeastTheRequest) {
  FiberOptions options;
  options.stack_size = 100 * 1000;
  auto f = Make(Fiber::Create(options, [] {
    // Use most of it.
    volatile char big[90 * 1000];
    for (size_t i = 0; i < sizeof(big); i += 512) big[i] = 1;
    return static_cast<int>(big[512]);
  }));
  EXPECT_GE(f->stack_size(), 100u * 1000);
  EXPECT_EQ(std::any_cast<int>(f->Switch()), 1);
}

// --- Misuse --------------------------------------------------------------

TEST_F(FiberTest, SwitchIntoFinishedFiberIsAnError) {
  auto f = Spawn([] {});
  f->Switch();
  try {
    f->Switch();
    FAIL() << "no FiberError";
  } catch (const FiberError& e) {
    EXPECT_THAT(e.what(), HasSubstr("has ended"));
  }
  EXPECT_THROW(f->Throw(std::runtime_error("x")), FiberError);
}

TEST_F(FiberTest, SwitchToSelfIsAnError) {
  std::string message;
  auto f = Spawn([&] {
    try {
      Fiber::Current()->Switch();
    } catch (const FiberError& e) {
      message = e.what();
    }
  });
  f->Switch();
  EXPECT_THAT(message, HasSubstr("cannot switch from a fiber to itself"));
  EXPECT_THROW(Fiber::Current()->Switch(), FiberError);
}

TEST_F(FiberTest, ValueIntoUnstartedFiberIsAnError) {
  int runs = 0;
  auto f = Spawn([&] { ++runs; });
  try {
    f->Switch(5);
    FAIL() << "no FiberError";
  } catch (const FiberError& e) {
    EXPECT_THAT(e.what(), HasSubstr("wasn't started"));
  }
  EXPECT_EQ(runs, 0);
  EXPECT_TRUE(f->IsAlive());
  f->Switch();
  EXPECT_EQ(runs, 1);
}

TEST_F(FiberTest, ThrowNullIsAnError) {
  auto f = Spawn([] {});
  EXPECT_THROW(f->Throw(std::exception_ptr()), FiberError);
  EXPECT_TRUE(f->IsAlive());
}

// --- Exceptions and ancestors
// -------------------------------------------------

TEST_F(FiberTest, ExceptionGoesToParent) {
  auto f = Spawn([]() -> int { throw std::runtime_error("boom"); });
  try {
    f->Switch();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, ResultSkipsUnstartedAndFinishedAncestors) {
  Fiber* main = Fiber::Current();
  auto a = Spawn([main] { return std::any_cast<int>(main->Switch()) + 1; });
  a->Switch();            // a waits in main->Switch()
  auto b = Spawn([] {});  // parent: main
  FiberOptions oc;
  oc.parent = b.get();
  auto c = Make(Fiber::Create(oc, [] {}));  // stays unstarted
  FiberOptions od;
  od.parent = c.get();
  auto d = Make(Fiber::Create(od, [] { return 99; }));
  b->Switch();  // b finishes
  ASSERT_TRUE(b->SetParent(a.get()).ok());
  // d -> c (unstarted) -> b (finished) -> a (suspended): 99 lands in a, and
  // a's result (100) goes on to main.
  EXPECT_EQ(std::any_cast<int>(d->Switch()), 100);
  EXPECT_FALSE(a->IsAlive());
  EXPECT_TRUE(c->IsAlive());
}

TEST_F(FiberTest, ExceptionReachesAncestorSeveralLevelsUp) {
  Fiber* main = Fiber::Current();
  auto a = Spawn([main] {
    try {
      main->Switch();
    } catch (const std::logic_error& e) {
      return std::string("a caught ") + e.what();
    }
    return std::string("a resumed normally");
  });
  a->Switch();
  // a <- b1 (finished) <- b2 (unstarted) <- b3 (finished) <- d
  auto b1 = Spawn([] {});
  FiberOptions o;
  o.parent = b1.get();
  auto b2 = Make(Fiber::Create(o, [] {}));
  o.parent = b2.get();
  auto b3 = Make(Fiber::Create(o, [] {}));
  o.parent = b3.get();
  auto d =
      Make(Fiber::Create(o, []() -> int { throw std::logic_error("deep"); }));
  ASSERT_TRUE(b3->SetParent(main).ok());
  b3->Switch();
  ASSERT_TRUE(b3->SetParent(b2.get()).ok());
  b1->Switch();
  ASSERT_TRUE(b1->SetParent(a.get()).ok());
  EXPECT_EQ(std::any_cast<std::string>(d->Switch()), "a caught deep");
  EXPECT_FALSE(d->IsAlive());
  EXPECT_TRUE(b2->IsAlive());
}

TEST_F(FiberTest, ExceptionIsRaisedInSuspendedAncestor) {
  Fiber* main = Fiber::Current();
  std::string caught;
  auto a = Spawn([&] {
    try {
      main->Switch();
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
    return 1;
  });
  a->Switch();  // a waits in main->Switch()
  FiberOptions o1;
  o1.parent = a.get();
  auto b = Make(Fiber::Create(o1, [] {}));  // will be finished
  b->SetParent(main).IgnoreError();
  b->Switch();
  FiberOptions o2;
  o2.parent = a.get();
  auto c = Make(Fiber::Create(o2, [] {}));  // stays unstarted
  FiberOptions o3;
  o3.parent = c.get();
  auto d = Make(
      Fiber::Create(o3, []() -> int { throw std::runtime_error("from d"); }));
  // d's parent c is unstarted: the exception lands in a, at its switch
  // point; a catches it and returns 1, which goes to main (a's parent).
  std::any r = d->Switch();
  EXPECT_EQ(caught, "from d");
  EXPECT_EQ(std::any_cast<int>(r), 1);
  EXPECT_FALSE(a->IsAlive());
  EXPECT_TRUE(c->IsAlive());
}

TEST_F(FiberTest, ThrowIntoSuspendedFiber) {
  Fiber* main = Fiber::Current();
  auto f = Spawn([main] {
    Tracked t;
    try {
      main->Switch();
    } catch (const std::out_of_range& e) {
      return std::string("caught ") + e.what();
    }
    return std::string("not thrown");
  });
  f->Switch();
  EXPECT_EQ(Tracked::alive, 1);
  std::any r = f->Throw(std::out_of_range("range"));
  EXPECT_EQ(std::any_cast<std::string>(r), "caught range");
  EXPECT_EQ(Tracked::alive, 0);
}

TEST_F(FiberTest, UncaughtThrowUnwindsAndComesBack) {
  Fiber* main = Fiber::Current();
  auto f = Spawn([main] {
    Tracked t;
    main->Switch();
  });
  f->Switch();
  EXPECT_THROW(f->Throw(std::invalid_argument("x")), std::invalid_argument);
  EXPECT_FALSE(f->IsAlive());
  EXPECT_EQ(Tracked::destroyed, 1);
}

TEST_F(FiberTest, ThrowIntoUnstartedFiberReachesCaller) {
  int runs = 0;
  auto f = Spawn([&] { ++runs; });
  EXPECT_THROW(f->Throw(std::runtime_error("early")), std::runtime_error);
  EXPECT_EQ(runs, 0);
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, ThrowIntoUnstartedFiberReachesStartedAncestor) {
  Fiber* main = Fiber::Current();
  std::string caught;
  std::unique_ptr<Fiber> child;
  auto a = Spawn([&] {
    try {
      main->Switch();
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  });
  a->Switch();
  FiberOptions o;
  o.parent = a.get();
  child = Make(Fiber::Create(o, [] {}));
  // Thrown from main into unstarted `child`: lands in a (its parent).
  std::any r = child->Throw(std::runtime_error("via child"));
  EXPECT_EQ(caught, "via child");
  EXPECT_FALSE(r.has_value());  // a finished; its (void) result came back
  EXPECT_FALSE(child->IsAlive());
}

// --- Parents --------------------------------------------------------------

TEST_F(FiberTest, ReparentingChangesWhereResultsGo) {
  Fiber* main = Fiber::Current();
  std::any got_in_a;
  auto a = Spawn([&] { got_in_a = main->Switch(); });
  a->Switch();
  auto b = Spawn([] { return 5; });
  ASSERT_TRUE(b->SetParent(a.get()).ok());
  EXPECT_EQ(b->parent(), a.get());
  b->Switch();  // 5 goes to a, which finishes and returns to main
  EXPECT_EQ(std::any_cast<int>(got_in_a), 5);
  EXPECT_FALSE(a->IsAlive());
}

TEST_F(FiberTest, ReparentingErrors) {
  auto a = Spawn([] {});
  FiberOptions o;
  o.parent = a.get();
  auto b = Make(Fiber::Create(o, [] {}));
  absl::Status s = a->SetParent(b.get());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cyclic parent chain"));
  EXPECT_THAT(std::string(a->SetParent(a.get()).message()),
              HasSubstr("cyclic"));
  EXPECT_THAT(std::string(Fiber::Current()->SetParent(a.get()).message()),
              HasSubstr("cyclic"));
  EXPECT_FALSE(a->SetParent(nullptr).ok());
  auto done = Spawn([] {});
  done->Switch();
  EXPECT_THAT(std::string(a->SetParent(done.get()).message()),
              HasSubstr("must not have ended"));
  FiberOptions bad;
  bad.parent = done.get();
  auto refused = Fiber::Create(bad, [] {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a->parent(), Fiber::Current());
}

TEST_F(FiberTest, DestroyedParentHandsChildrenToItsParent) {
  auto a = Spawn([] {});
  FiberOptions o;
  o.parent = a.get();
  auto b = Make(Fiber::Create(o, [] { return 3; }));
  auto c = Make(Fiber::Create(o, [] { return 4; }));
  a.reset();
  EXPECT_EQ(b->parent(), Fiber::Current());
  EXPECT_EQ(c->parent(), Fiber::Current());
  EXPECT_EQ(std::any_cast<int>(b->Switch()), 3);
  EXPECT_EQ(std::any_cast<int>(c->Switch()), 4);
}

// --- Kill and destruction -------------------------------------------------

void NestedFrames(Fiber* main, int depth) {
  Tracked t;
  if (depth == 0) {
    main->Switch();
    ADD_FAILURE() << "resumed after kill";
    return;
  }
  NestedFrames(main, depth - 1);
}

TEST_F(FiberTest, KillUnwindsEveryNestedFrame) {
  Fiber* main = Fiber::Current();
  auto f = Spawn([main] { NestedFrames(main, 9); });
  f->Switch();
  EXPECT_EQ(Tracked::alive, 10);
  EXPECT_TRUE(f->Kill().ok());
  EXPECT_EQ(Tracked::alive, 0);
  EXPECT_EQ(Tracked::destroyed, 10);
  EXPECT_FALSE(f->IsAlive());
  EXPECT_EQ(Fiber::Current(), main);
  EXPECT_TRUE(f->Kill().ok());  // finished: nothing to do
}

TEST_F(FiberTest, DestroyingASuspendedFiberUnwindsIt) {
  Fiber* main = Fiber::Current();
  auto f = Spawn([main] { NestedFrames(main, 3); });
  f->Switch();
  EXPECT_EQ(Tracked::alive, 4);
  f.reset();
  EXPECT_EQ(Tracked::destroyed, 4);
}

TEST_F(FiberTest, KillUnstartedFiberDoesNotRunIt) {
  auto token = std::make_shared<int>(0);
  int runs = 0;
  auto f = Spawn([&runs, token] { ++runs; });
  EXPECT_TRUE(f->Kill().ok());
  EXPECT_EQ(runs, 0);
  EXPECT_FALSE(f->IsAlive());
  EXPECT_EQ(token.use_count(), 1);
}

TEST_F(FiberTest, KilledFiberIsNotSeenAsStdException) {
  Fiber* main = Fiber::Current();
  bool std_catch = false;
  auto f = Spawn([&] {
    try {
      main->Switch();
    } catch (const std::exception&) {
      std_catch = true;
    }
  });
  f->Switch();
  EXPECT_TRUE(f->Kill().ok());
  EXPECT_FALSE(std_catch);
}

TEST_F(FiberTest, CatchAllThatRethrowsIsFine) {
  Fiber* main = Fiber::Current();
  int cleanups = 0;
  auto f = Spawn([&] {
    try {
      main->Switch();
    } catch (...) {
      ++cleanups;
      throw;
    }
  });
  f->Switch();
  EXPECT_TRUE(f->Kill().ok());
  EXPECT_EQ(cleanups, 1);
}

TEST_F(FiberTest, SwallowedKillThatSwitchesAwayIsReported) {
  Fiber* main = Fiber::Current();
  int phase = 0;
  auto f = Spawn([&] {
    try {
      main->Switch();
    } catch (...) {
      // Swallowed: no rethrow.
    }
    phase = 1;
    main->Switch();  // switching away after swallowing: detected
    phase = 2;
  });
  f->Switch();
  absl::Status s = f->Kill();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("left suspended"));
  EXPECT_EQ(phase, 1);
  EXPECT_TRUE(f->IsAlive());
  f->Switch();  // it can still be resumed, and finishes normally
  EXPECT_EQ(phase, 2);
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, SwallowedKillThatReturnsIsReported) {
  Fiber* main = Fiber::Current();
  auto f = Spawn([&] {
    try {
      main->Switch();
    } catch (...) {
    }
    return 3;
  });
  f->Switch();
  absl::Status s = f->Kill();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("has finished"));
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, DestructorMaySwitchWhileUnwinding) {
  Fiber* main = Fiber::Current();
  int helper_runs = 0;
  std::unique_ptr<Fiber> helper;
  struct SwitchesInDestructor {
    Fiber** target;
    ~SwitchesInDestructor() { (*target)->Switch(); }
  };
  Fiber* helper_raw = nullptr;
  auto f = Spawn([&] {
    SwitchesInDestructor d{&helper_raw};
    main->Switch();
  });
  f->Switch();
  FiberOptions o;
  o.parent = f.get();
  helper = Make(Fiber::Create(o, [&] { ++helper_runs; }));
  helper_raw = helper.get();
  // Killing f runs ~SwitchesInDestructor, which runs helper to its end; the
  // helper's result goes back to f (its parent), which finishes unwinding.
  EXPECT_TRUE(f->Kill().ok());
  EXPECT_EQ(helper_runs, 1);
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, KillSelfFinishesAndReturnsToParent) {
  int after = 0;
  auto f = Spawn([&] {
    Tracked t;
    Fiber::Current()->Kill().IgnoreError();
    ++after;
  });
  std::any r = f->Switch();
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(after, 0);
  EXPECT_FALSE(f->IsAlive());
}

TEST_F(FiberTest, MainFiberCannotBeKilled) {
  absl::Status s = Fiber::Current()->Kill();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
}

// --- Per-fiber exception state --------------------------------------------

TEST_F(FiberTest, CurrentExceptionIsPerFiber) {
  Fiber* main = Fiber::Current();
  std::string seen_after_resume;
  int uncaught_in_fiber = -1;
  auto f = Spawn([&] {
    try {
      throw std::runtime_error("fiber's own");
    } catch (const std::exception&) {
      main->Switch();  // suspended inside the catch block
      try {
        std::rethrow_exception(std::current_exception());
      } catch (const std::runtime_error& e) {
        seen_after_resume = e.what();
      }
      uncaught_in_fiber = std::uncaught_exceptions();
    }
  });
  f->Switch();
  // The main fiber is not inside any catch block.
  EXPECT_EQ(std::current_exception(), nullptr);
  // Throw, catch and rethrow here while f is suspended in its catch block.
  for (int i = 0; i < 3; ++i) {
    try {
      try {
        throw std::logic_error("main's");
      } catch (...) {
        EXPECT_NE(std::current_exception(), nullptr);
        throw;
      }
    } catch (const std::logic_error& e) {
      EXPECT_STREQ(e.what(), "main's");
    }
  }
  EXPECT_EQ(std::current_exception(), nullptr);
  f->Switch();
  EXPECT_EQ(seen_after_resume, "fiber's own");
  EXPECT_EQ(uncaught_in_fiber, 0);
  EXPECT_EQ(std::current_exception(), nullptr);
}

TEST_F(FiberTest, UncaughtExceptionsIsPerFiber) {
  Fiber* main = Fiber::Current();
  int inside_unwinding = -1;
  int main_during = -1;
  struct Probe {
    Fiber* main;
    int* out;
    ~Probe() {
      *out = std::uncaught_exceptions();
      main->Switch();  // suspended while its exception is in flight
    }
  };
  auto f = Spawn([&] {
    try {
      Probe p{main, &inside_unwinding};
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error&) {
    }
  });
  f->Switch();
  main_during = std::uncaught_exceptions();
  EXPECT_EQ(inside_unwinding, 1);
  EXPECT_EQ(main_during, 0);
  f->Switch();
  EXPECT_FALSE(f->IsAlive());
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

// --- Scale, generators, threads -------------------------------------------

TEST_F(FiberTest, TenThousandFibersAliveAtOnce) {
#if defined(__SANITIZE_THREAD__)
  // TSan registers every fiber as a thread and dies past 8128 of them.
  const int kCount = 4000;
#else
  // Valgrind searches its list of registered stacks on every stack switch,
  // which makes 10,000 live stacks quadratic there.
  const int kCount = RUNNING_ON_VALGRIND ? 1000 : 10000;
#endif
  Fiber* main = Fiber::Current();
  std::vector<std::unique_ptr<Fiber>> fibers;
  fibers.reserve(kCount);
  FiberOptions options;
  options.stack_size = 32 * 1024;
  for (int i = 0; i < kCount; ++i) {
    fibers.push_back(Make(Fiber::Create(options, [main, i] {
      Tracked t;
      int got = std::any_cast<int>(main->Switch(i));
      return got + i;
    })));
  }
  long long sum = 0;
  for (int i = 0; i < kCount; ++i) {
    sum += std::any_cast<int>(fibers[i]->Switch());
  }
  EXPECT_EQ(Tracked::alive, kCount);
  EXPECT_EQ(sum, 1LL * kCount * (kCount - 1) / 2);
  sum = 0;
  for (int i = 0; i < kCount; ++i) {
    sum += std::any_cast<int>(fibers[i]->Switch(1));
  }
  EXPECT_EQ(sum, 1LL * kCount * (kCount - 1) / 2 + kCount);
  EXPECT_EQ(Tracked::alive, 0);
}

// A generator on Switch: yields go to the consumer, which is the parent.
template <typename T>
class Generator {
 public:
  template <typename F>
  explicit Generator(F body) {
    fiber_ = Make(Fiber::Create([this, body]() mutable {
      body([this](T v) { consumer_->Switch(std::move(v)); });
    }));
  }
  std::optional<T> Next() {
    consumer_ = Fiber::Current();
    EXPECT_TRUE(fiber_->SetParent(consumer_).ok());
    if (!fiber_->IsAlive()) return std::nullopt;
    std::any v = fiber_->Switch();
    if (!v.has_value()) return std::nullopt;
    return std::any_cast<T>(v);
  }

 private:
  Fiber* consumer_ = nullptr;
  std::unique_ptr<Fiber> fiber_;
};

TEST_F(FiberTest, NestedGenerators) {
  auto squares_of_evens = [] {
    return Generator<int>([](auto yield) {
      Generator<int> numbers([](auto yield_inner) {
        for (int i = 0; i < 10; ++i) yield_inner(i);
      });
      while (auto n = numbers.Next()) {
        if (*n % 2 == 0) yield(*n * *n);
      }
    });
  };
  auto gen = squares_of_evens();
  std::vector<int> out;
  while (auto v = gen.Next()) out.push_back(*v);
  EXPECT_EQ(out, (std::vector<int>{0, 4, 16, 36, 64}));
}

TEST_F(FiberTest, FibersOfAnotherThreadAreRefused) {
  Fiber* main = Fiber::Current();
  auto mine = Spawn([main] { main->Switch(); });
  mine->Switch();
  std::string switch_error, parent_error, kill_error, create_error;
  std::thread t([&] {
    try {
      mine->Switch();
    } catch (const FiberError& e) {
      switch_error = e.what();
    }
    try {
      mine->Throw(std::runtime_error("x"));
    } catch (const FiberError& e) {
      switch_error += " / ";
      switch_error += e.what();
    }
    kill_error = std::string(mine->Kill().message());
    auto theirs = Make(Fiber::Create([] {}));
    parent_error = std::string(theirs->SetParent(mine.get()).message());
    FiberOptions o;
    o.parent = mine.get();
    create_error = std::string(Fiber::Create(o, [] {}).status().message());
    theirs->Switch();
  });
  t.join();
  EXPECT_THAT(switch_error, HasSubstr("different thread"));
  EXPECT_THAT(kill_error, HasSubstr("another thread"));
  EXPECT_THAT(parent_error, HasSubstr("different thread"));
  EXPECT_THAT(create_error, HasSubstr("different thread"));
  EXPECT_TRUE(mine->IsAlive());
  mine->Switch();
  EXPECT_FALSE(mine->IsAlive());
}

TEST_F(FiberTest, ManyThreadsSwitchInParallel) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::atomic<long long> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&total] {
      Fiber* main = Fiber::Current();
      EXPECT_TRUE(main->IsMain());
      std::vector<std::unique_ptr<Fiber>> fibers;
      for (int i = 0; i < 8; ++i) {
        fibers.push_back(Make(Fiber::Create([main] {
          long long n = 0;
          for (int r = 0; r < kRounds; ++r) {
            n += std::any_cast<int>(main->Switch(r));
          }
          return n;
        })));
      }
      long long local = 0;
      for (int r = 0; r <= kRounds; ++r) {
        for (auto& f : fibers) {
          std::any v = r == 0 ? f->Switch() : f->Switch(1);
          if (r == kRounds) local += std::any_cast<long long>(v);
        }
      }
      total += local;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(total.load(), 1LL * kThreads * 8 * kRounds);
}

// --- Stacks ---------------------------------------------------------------

TEST_F(FiberTest, PooledStackIsReusedWithItsGuard) {
  FiberOptions options;
  options.stack_size = 64 * 1024;
  auto a = Make(Fiber::Create(options, [] {}));
  fibers_internal::Stack first = fibers_internal::FiberStackSlot(*a);
  EXPECT_TRUE(fibers_internal::StackGuardIsIntact(first));
  a->Switch();
  a.reset();
  auto b = Make(Fiber::Create(options, [] {}));
  fibers_internal::Stack second = fibers_internal::FiberStackSlot(*b);
  EXPECT_EQ(first.base, second.base);
  EXPECT_TRUE(fibers_internal::StackGuardIsIntact(second));
  b->Switch();
}

volatile int recursion_limit = 1 << 30;  // never reached: the guard is

void Recurse(int* depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(*depth);
  ++*depth;
  if (*depth < recursion_limit) Recurse(depth);
  frame[1] = frame[0];
}

TEST(FiberDeathTest, StackOverflowNamesTheFiber) {
  EXPECT_DEATH(
      {
        FiberOptions options;
        options.name = "deep-recursion";
        options.stack_size = 64 * 1024;
        auto f = Fiber::Create(options, [] {
          int depth = 0;
          Recurse(&depth);
        });
        (*f)->Switch();
      },
      "stack overflow in fiber 'deep-recursion' \\(#[0-9]+\\): its stack of "
      "[0-9]+ bytes is exhausted");
}

}  // namespace
}  // namespace evergreen
