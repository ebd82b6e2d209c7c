// Exactly K spawn+join pairs, K ping-pong round trips, or K items handed
// from one task to another through a bounded queue (capacity 64: evergreen
// Queue, Boost.Fiber buffered_channel), evergreen or Boost.Fiber, for
// instruction counts under callgrind (callgrind_runtime.sh subtracts two
// counts so start-up cancels out).
//
//   runtime_instructions <spawnjoin|pingpong|queue> <evergreen|boost> <K>
#include <boost/fiber/all.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/queue.h"
#include "runtime/task.h"

namespace {

using evergreen::runtime::Event;
using evergreen::runtime::EventLoop;
using evergreen::runtime::Task;

constexpr size_t kQueueCapacity = 64;

int EvergreenQueue(long k) {
  auto loop = EventLoop::Create();
  if (!loop.ok()) return 1;
  evergreen::runtime::Queue<long> queue(kQueueCapacity);
  long sum = 0;
  auto consumer = Task::Spawn([&] {
    for (long i = 0; i < k; ++i) sum += *queue.Get();
  });
  auto producer = Task::Spawn([&] {
    for (long i = 0; i < k; ++i) (void)queue.Put(i);
  });
  if (!consumer.ok() || !producer.ok()) return 1;
  if (!(*loop)->Run().ok()) return 1;
  return sum == k * (k - 1) / 2 ? 0 : 1;
}

int BoostQueue(long k) {
  boost::fibers::buffered_channel<long> channel(kQueueCapacity);
  long sum = 0;
  boost::fibers::fiber consumer([&] {
    for (long i = 0; i < k; ++i) {
      long v = 0;
      channel.pop(v);
      sum += v;
    }
  });
  boost::fibers::fiber producer([&] {
    for (long i = 0; i < k; ++i) channel.push(i);
  });
  producer.join();
  consumer.join();
  return sum == k * (k - 1) / 2 ? 0 : 1;
}

int Evergreen(bool spawn, long k) {
  auto loop = EventLoop::Create();
  if (!loop.ok()) return 1;
  auto main_task = Task::Spawn([&] {
    if (spawn) {
      for (long i = 0; i < k; ++i) {
        auto child = Task::Spawn([] {});
        (void)(*child)->Join();
      }
      return;
    }
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
    for (long i = 0; i < k; ++i) {
      ping.Set();
      (void)pong.Wait();
      pong.Clear();
    }
    done = true;
    ping.Set();
    (void)(*peer)->Join();
  });
  if (!main_task.ok()) return 1;
  return (*loop)->Run().ok() ? 0 : 1;
}

int Boost(bool spawn, long k) {
  if (spawn) {
    for (long i = 0; i < k; ++i) {
      boost::fibers::fiber child([] {});
      child.join();
    }
    return 0;
  }
  boost::fibers::mutex mu;
  boost::fibers::condition_variable cv;
  int turn = 0;
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
    for (long i = 0; i < k; ++i) {
      turn = 1;
      cv.notify_all();
      cv.wait(lock, [&] { return turn == 0; });
    }
    turn = 2;
    cv.notify_all();
  }
  peer.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr,
                 "usage: %s <spawnjoin|pingpong|queue> <evergreen|boost> <K>\n",
                 argv[0]);
    return 2;
  }
  bool spawn = std::strcmp(argv[1], "spawnjoin") == 0;
  long k = std::atol(argv[3]);
  if (std::strcmp(argv[1], "queue") == 0) {
    return std::strcmp(argv[2], "evergreen") == 0 ? EvergreenQueue(k)
                                                  : BoostQueue(k);
  }
  if (std::strcmp(argv[2], "evergreen") == 0) return Evergreen(spawn, k);
  return Boost(spawn, k);
}
