// Task spawn+join and a ping-pong between two tasks: evergreen's runtime
// against Boost.Fiber (Debian's libboost-fiber-dev), in the same binary.
//
//   ./bazelw run -c opt //benchmarks:runtime_benchmark
//
// Each evergreen benchmark runs its timing loop inside a task of a fresh
// EventLoop; each Boost one on the main thread's fiber scheduler (the default
// round-robin algorithm). Ping-pong: two tasks hand the turn back and forth
// with the cheapest wakeup each library has (evergreen: Event; Boost:
// fibers::condition_variable on a shared flag, and buffered_channel where
// noted).
#include <boost/fiber/all.hpp>
#include <memory>

#include "benchmark/benchmark.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"

namespace {

using evergreen::runtime::Event;
using evergreen::runtime::EventLoop;
using evergreen::runtime::Task;

// Runs `body` inside a task of a new loop and runs the loop to completion.
template <typename Body>
void InTask(benchmark::State& state, Body body) {
  auto loop = EventLoop::Create();
  if (!loop.ok()) {
    state.SkipWithError("EventLoop::Create failed");
    return;
  }
  auto task = Task::Spawn([&] { body(); });
  if (!task.ok() || !(*loop)->Run().ok()) state.SkipWithError("run failed");
}

void BM_Evergreen_SpawnJoin(benchmark::State& state) {
  InTask(state, [&] {
    for (auto _ : state) {
      auto child = Task::Spawn([] {});
      benchmark::DoNotOptimize(child);
      (void)(*child)->Join();
    }
  });
}
BENCHMARK(BM_Evergreen_SpawnJoin);

void BM_BoostFiber_SpawnJoin(benchmark::State& state) {
  for (auto _ : state) {
    boost::fibers::fiber child([] {});
    child.join();
  }
}
BENCHMARK(BM_BoostFiber_SpawnJoin);

// One iteration = one round trip (two handoffs).
void BM_Evergreen_PingPongEvent(benchmark::State& state) {
  InTask(state, [&] {
    Event ping, pong;
    bool done = false;
    auto peer = Task::Spawn([&] {
      for (;;) {
        (void)ping.Wait();
        ping.Clear();
        if (done) return;
        pong.Set();
      }
    });
    for (auto _ : state) {
      ping.Set();
      (void)pong.Wait();
      pong.Clear();
    }
    done = true;
    ping.Set();
    (void)(*peer)->Join();
  });
}
BENCHMARK(BM_Evergreen_PingPongEvent);

void BM_BoostFiber_PingPongCondition(benchmark::State& state) {
  boost::fibers::mutex mu;
  boost::fibers::condition_variable cv;
  int turn = 0;  // 0: main's turn, 1: peer's turn, 2: stop
  boost::fibers::fiber peer([&] {
    std::unique_lock<boost::fibers::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return turn != 0; });
      if (turn == 2) return;
      turn = 0;
      cv.notify_all();
    }
  });
  {
    std::unique_lock<boost::fibers::mutex> lock(mu);
    for (auto _ : state) {
      turn = 1;
      cv.notify_all();
      cv.wait(lock, [&] { return turn == 0; });
    }
    turn = 2;
    cv.notify_all();
  }
  peer.join();
}
BENCHMARK(BM_BoostFiber_PingPongCondition);

void BM_BoostFiber_PingPongChannel(benchmark::State& state) {
  boost::fibers::buffered_channel<int> to_peer(2), from_peer(2);
  boost::fibers::fiber peer([&] {
    int v;
    while (to_peer.pop(v) == boost::fibers::channel_op_status::success) {
      from_peer.push(v);
    }
  });
  int v = 0;
  for (auto _ : state) {
    to_peer.push(v);
    from_peer.pop(v);
  }
  to_peer.close();
  peer.join();
}
BENCHMARK(BM_BoostFiber_PingPongChannel);

}  // namespace

BENCHMARK_MAIN();
