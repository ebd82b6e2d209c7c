// generators: Python-style generators and a producer/consumer pipeline built
// on nothing but Fiber::Switch.
//
//   ./bazelw run //examples:generators
//
// A Generator<T> runs its body on a fiber. `yield(v)` switches to whoever
// asked for the next value (the consumer), handing it `v`; the consumer's
// next request switches back into the body right after that yield. A
// Consumer<T, R> is the mirror image: values are pushed into it, and its body
// pulls them out with Receive(), as in a Python coroutine driven by send().
//
// The sections below show: a finite generator; an infinite one abandoned
// early (its stack unwinds, destructors run); nested generators (a tree walk
// with `yield from`); an exception travelling from a generator to its
// consumer; and a pipeline of generators feeding a consumer whose result
// comes back when the stream is closed.
#include <any>
#include <cctype>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fibers/fiber.h"

namespace {

using evergreen::Fiber;

// Generator stacks: small, since the bodies here are shallow.
constexpr size_t kStackSize = 64 * 1024;

std::unique_ptr<Fiber> CreateFiber(std::function<void()> body) {
  Fiber::Options options;
  options.stack_size = kStackSize;
  auto fiber = Fiber::Create(std::move(options), std::move(body));
  if (!fiber.ok()) throw std::runtime_error(fiber.status().ToString());
  return *std::move(fiber);
}

// Makes the calling fiber the parent of `fiber`, so that a yield (a switch to
// the parent) and the end of the body both come back to the caller.
void AdoptBy(Fiber& fiber, Fiber* caller) {
  if (fiber.parent() == caller) return;
  absl::Status status = fiber.SetParent(caller);
  if (!status.ok()) throw std::logic_error(status.ToString());
}

// Generator<T> yields values of type T to its consumer, one per Next().
//
//   Generator<int> count([](Generator<int>::Yield& yield) {
//     for (int i = 0; i < 3; ++i) yield(i);
//   });
//   for (int v : count) ...  // 0, 1, 2
//
// The body runs lazily: nothing happens until the first Next(). Any fiber of
// the thread may call Next(); each call resumes the body until its next
// yield, which switches back to that caller. An exception escaping the body
// comes out of Next(). Destroying a generator whose body is suspended unwinds
// the body's stack (Fiber's kill), so its destructors run.
template <typename T>
class Generator {
 public:
  // Passed to the body; calling it hands a value to the consumer.
  class Yield {
   public:
    void operator()(T value) {
      Fiber* consumer = Fiber::Current()->parent();
      consumer->Switch(std::move(value));
    }
    // Yields every value of `inner` (Python's `yield from`).
    void From(Generator<T> inner) {
      while (std::optional<T> v = inner.Next()) (*this)(*std::move(v));
    }
  };

  using Body = std::function<void(Yield&)>;

  explicit Generator(Body body)
      : fiber_(CreateFiber([body = std::move(body)] {
          Yield yield;
          body(yield);
        })) {}

  // Resumes the body until it yields (returns the value) or finishes
  // (returns nullopt, and so do later calls).
  std::optional<T> Next() {
    if (!fiber_->IsAlive()) return std::nullopt;
    AdoptBy(*fiber_, Fiber::Current());
    std::any value = fiber_->Switch();
    if (!fiber_->IsAlive()) return std::nullopt;  // the body returned
    return std::any_cast<T>(std::move(value));
  }

  // Range-for support: an input iterator over the remaining values.
  class iterator {
   public:
    explicit iterator(Generator* gen) : gen_(gen) { ++*this; }
    iterator() = default;
    const T& operator*() const { return *value_; }
    iterator& operator++() {
      value_ = gen_->Next();
      return *this;
    }
    bool operator!=(const iterator& other) const {
      return value_.has_value() != other.value_.has_value();
    }

   private:
    Generator* gen_ = nullptr;
    std::optional<T> value_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::unique_ptr<Fiber> fiber_;
};

// Consumer<T, R> receives values pushed with Send() and returns an R once
// Close() ends the stream.
//
//   Consumer<int, int> sum([](Consumer<int, int>::Inbox& in) {
//     int total = 0;
//     while (std::optional<int> v = in.Receive()) total += *v;
//     return total;
//   });
//   sum.Send(1); sum.Send(2);
//   int three = sum.Close();
//
// Send() returns when the body asks for the next value. The body may return
// early; later values are dropped and Close() returns its result.
template <typename T, typename R>
class Consumer {
 public:
  // Passed to the body; Receive() waits for the next value sent, and returns
  // nullopt once the stream is closed.
  class Inbox {
   public:
    std::optional<T> Receive() {
      Fiber* producer = Fiber::Current()->parent();
      std::any value = producer->Switch();
      if (!value.has_value()) return std::nullopt;  // Close()
      return std::any_cast<T>(std::move(value));
    }
  };

  using Body = std::function<R(Inbox&)>;

  explicit Consumer(Body body)
      : fiber_(CreateFiber([this, body = std::move(body)] {
          Inbox inbox;
          result_ = body(inbox);
        })) {}
  // The fiber's body refers to `this`.
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Hands `value` to the body and runs it until it wants the next one.
  void Send(T value) {
    if (!Start()) return;
    AdoptBy(*fiber_, Fiber::Current());
    fiber_->Switch(std::move(value));
  }

  // Ends the stream and returns the body's result.
  R Close() {
    if (Start()) {
      AdoptBy(*fiber_, Fiber::Current());
      fiber_->Switch();  // Receive() returns nullopt
    }
    if (!result_) throw std::logic_error("Consumer: the body did not return");
    return *std::move(result_);
  }

 private:
  // Runs the body up to its first Receive() (a fiber that has not started
  // takes no value). Returns whether the body still waits for values.
  bool Start() {
    if (!fiber_->IsStarted()) {
      AdoptBy(*fiber_, Fiber::Current());
      fiber_->Switch();
    }
    return fiber_->IsAlive();
  }

  std::optional<R> result_;
  std::unique_ptr<Fiber> fiber_;  // last: destroyed (killed) first
};

// --- 1. A finite generator --------------------------------------------------

Generator<long> Fibonacci(int count) {
  return Generator<long>([count](Generator<long>::Yield& yield) {
    long a = 0, b = 1;
    for (int i = 0; i < count; ++i) {
      yield(a);
      b = std::exchange(a, b) + b;
    }
  });
}

void FiniteGenerator() {
  std::printf("1. Fibonacci(12):");
  for (long v : Fibonacci(12)) std::printf(" %ld", v);
  std::printf("\n");
}

// --- 2. An infinite generator, abandoned early ------------------------------

struct Announce {
  const char* what;
  ~Announce() { std::printf("   %s\n", what); }
};

Generator<int> Naturals() {
  return Generator<int>([](Generator<int>::Yield& yield) {
    Announce cleanup{"Naturals: stack unwound, destructor ran"};
    for (int i = 1;; ++i) yield(i);
  });
}

void AbandonedGenerator() {
  std::printf("2. the first squares from an infinite generator:");
  int taken = 0;
  {
    Generator<int> naturals = Naturals();
    for (int n : naturals) {
      std::printf(" %d", n * n);
      if (++taken == 6) break;
    }
    std::printf("\n   dropping the generator while it is suspended...\n");
  }
}

// --- 3. Nested generators: a tree walk with yield-from ----------------------

struct Node {
  int value;
  std::unique_ptr<Node> left, right;
};

std::unique_ptr<Node> Insert(std::unique_ptr<Node> node, int value) {
  if (!node) return std::unique_ptr<Node>(new Node{value, nullptr, nullptr});
  auto& side = value < node->value ? node->left : node->right;
  side = Insert(std::move(side), value);
  return node;
}

// Yields (depth, value) pairs in order; every subtree is its own generator,
// running on its own fiber, nested inside its parent's.
Generator<std::pair<int, int>> InOrder(const Node* node, int depth) {
  return Generator<std::pair<int, int>>(
      [node, depth](Generator<std::pair<int, int>>::Yield& yield) {
        if (node == nullptr) return;
        yield.From(InOrder(node->left.get(), depth + 1));
        yield({depth, node->value});
        yield.From(InOrder(node->right.get(), depth + 1));
      });
}

void NestedGenerators() {
  std::unique_ptr<Node> tree;
  for (int v : {50, 30, 70, 20, 40, 60, 80, 35, 65}) {
    tree = Insert(std::move(tree), v);
  }
  std::printf(
      "3. in-order walk of a binary search tree, one generator per"
      " subtree:\n");
  for (const auto& [depth, value] : InOrder(tree.get(), 0)) {
    std::printf("   %*s%d  (through %d nested generator%s)\n", 2 * depth, "",
                value, depth + 1, depth == 0 ? "" : "s");
  }
}

// --- 4. An exception from a generator reaches its consumer ------------------

void ExceptionFromGenerator() {
  Generator<int> checked([](Generator<int>::Yield& yield) {
    for (int v : {4, 8, -1, 16}) {
      if (v < 0) throw std::invalid_argument("negative input");
      yield(v);
    }
  });
  std::printf("4. a generator that throws:");
  try {
    for (int v : checked) std::printf(" %d", v);
    std::printf("\n   (no exception: wrong)\n");
  } catch (const std::invalid_argument& e) {
    std::printf("\n   the consumer caught: %s\n", e.what());
  }
}

// --- 5. A pipeline: generator -> generator -> consumer ----------------------

Generator<std::string> Words(std::string text) {
  return Generator<std::string>(
      [text = std::move(text)](Generator<std::string>::Yield& yield) {
        std::istringstream in(text);
        std::string word;
        while (in >> word) yield(word);
      });
}

// Lower-cases words, strips punctuation, and drops short ones.
Generator<std::string> Normalize(Generator<std::string> words) {
  return Generator<std::string>(
      [words = std::make_shared<Generator<std::string>>(std::move(words))](
          Generator<std::string>::Yield& yield) {
        for (const std::string& word : *words) {
          std::string clean;
          for (char c : word) {
            if (std::isalpha(static_cast<unsigned char>(c))) {
              clean += static_cast<char>(
                  std::tolower(static_cast<unsigned char>(c)));
            }
          }
          if (clean.size() > 3) yield(clean);
        }
      });
}

using Counts = std::map<std::string, int>;

void Pipeline() {
  const char* text =
      "Fibers switch, fibers yield; a generator yields values and a consumer "
      "receives values. Generators nest: generators within generators, "
      "fibers within fibers.";
  std::printf("5. pipeline: Words -> Normalize -> a counting consumer\n");

  Consumer<std::string, Counts> counter(
      [](Consumer<std::string, Counts>::Inbox& inbox) {
        Counts counts;
        while (std::optional<std::string> word = inbox.Receive()) {
          ++counts[*word];
        }
        return counts;
      });
  int sent = 0;
  for (const std::string& word : Normalize(Words(text))) {
    counter.Send(word);
    ++sent;
  }
  Counts counts = counter.Close();
  std::printf("   %d words sent; counts returned by the consumer:\n", sent);
  for (const auto& [word, n] : counts) {
    if (n > 1) std::printf("   %-10s %d\n", word.c_str(), n);
  }
}

}  // namespace

int main() {
  FiniteGenerator();
  AbandonedGenerator();
  NestedGenerators();
  ExceptionFromGenerator();
  Pipeline();
  std::printf("done.\n");
  return 0;
}
