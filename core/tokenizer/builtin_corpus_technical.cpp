// Built-in training text for the vocabulary builder, part 2: technical prose, code snippets and
// numbers. Written for this project (not copied from any source).
#include "core/tokenizer/vocab_builder.h"

namespace emoe::tokenizer {

std::string_view builtin_corpus_technical() {
  static constexpr std::string_view kText = R"CORPUS(
How a mixture of experts works

A mixture of experts model replaces the single feed forward network in each layer with several
smaller networks called experts. A small router looks at every token and chooses which experts
should process it. In a typical model there are eight experts per layer and each token is sent
to two of them. The outputs of the chosen experts are added together, weighted by the router's
probabilities. Because only a few experts run for each token, the model can have many more
parameters than it uses at any one time, and inference stays relatively fast.

The main cost is memory. All experts must be stored somewhere, even though most of them are idle
for any given token. When the model does not fit on the accelerator, experts can be kept in host
memory and copied to the device when they are needed. The time spent copying then becomes the
bottleneck, so it helps to predict which experts will be used next and to load them early.

Routing decisions are not random. Tokens from the same task, such as summarization or question
answering, tend to use similar experts, and the experts chosen for one prompt are a useful hint
for the next one. A predictor can learn these patterns from the routing history and suggest
which experts to keep in memory.

---

def fibonacci(n):
    """Return the n-th Fibonacci number using a simple loop."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def mean(values):
    if not values:
        raise ValueError("mean of an empty list")
    return sum(values) / len(values)


class Counter:
    def __init__(self):
        self.counts = {}

    def add(self, key, amount=1):
        self.counts[key] = self.counts.get(key, 0) + amount

    def most_common(self, k=10):
        items = sorted(self.counts.items(), key=lambda item: item[1], reverse=True)
        return items[:k]


if __name__ == "__main__":
    numbers = [fibonacci(i) for i in range(20)]
    print("first twenty:", numbers)
    print("mean:", mean(numbers))

---

#include <cstdio>
#include <string>
#include <vector>

// Returns the index of the largest value, or -1 for an empty vector.
int argmax(const std::vector<float>& values) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(values.size()); ++i) {
    if (best < 0 || values[i] > values[best]) best = i;
  }
  return best;
}

struct Point {
  double x = 0.0;
  double y = 0.0;
};

double dot(const Point& a, const Point& b) { return a.x * b.x + a.y * b.y; }

int main(int argc, char** argv) {
  std::vector<float> scores = {0.1f, 2.5f, -1.0f, 3.75f, 0.0f};
  std::printf("argmax = %d\n", argmax(scores));
  if (argc > 1) {
    std::string name = argv[1];
    std::printf("hello, %s\n", name.c_str());
  }
  return 0;
}

---

function debounce(fn, delay) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), delay);
  };
}

const items = [3, 1, 4, 1, 5, 9, 2, 6];
const sorted = [...items].sort((a, b) => a - b);
console.log(`sorted: ${sorted.join(", ")}`);

---

SELECT customer_id, COUNT(*) AS orders, SUM(total) AS revenue
FROM orders
WHERE created_at >= '2024-01-01' AND status = 'paid'
GROUP BY customer_id
HAVING COUNT(*) > 3
ORDER BY revenue DESC
LIMIT 10;

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL,
    layer INTEGER NOT NULL,
    expert INTEGER NOT NULL,
    weight REAL,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

---

#!/bin/sh
set -e
mkdir -p build
cd build
cmake .. -DCMAKE_BUILD_TYPE=Release
make -j4
./run_tests --verbose
echo "done: $(date)"

---

{
  "name": "example",
  "version": "1.2.0",
  "layers": 32,
  "experts": 8,
  "top_k": 2,
  "hidden_size": 4096,
  "learning_rate": 0.0003,
  "enabled": true,
  "tags": ["moe", "test", "small"]
}

---

Release notes, version 2.3.1

Fixed a crash when opening a file whose name contains non-ASCII characters. Improved the speed
of loading large files by about 15 percent. The settings dialog now remembers its size and
position. Added an option to export results as CSV or JSON. Removed the deprecated command line
flag --legacy-mode; use --compat instead. Updated the documentation and fixed several typos.

Known issues: on some systems the window may flicker when switching between dark and light
themes. A workaround is to restart the application after changing the theme.

---

Numbers and dates

The meeting is on 12 March 2024 at 14:30. The invoice number is 2024-0117 and the total is
1,249.50 euros, due within 30 days. The population of the town grew from 8,500 in 1990 to
12,300 in 2020, an increase of about 45 percent. Pi is roughly 3.14159, the square root of two
is about 1.41421, and e is approximately 2.71828.

1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20
2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536
1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987
100 + 250 = 350; 12 * 12 = 144; 81 / 9 = 9; 2^10 = 1024; 7 - 10 = -3

| year | visitors | change |
|------|----------|--------|
| 2019 | 41,200   | +3.1%  |
| 2020 | 12,750   | -69.1% |
| 2021 | 25,900   | +103%  |
| 2022 | 38,400   | +48.3% |
| 2023 | 44,050   | +14.7% |

---

Troubleshooting the network connection

If the device cannot connect, first check that the cable is plugged in and that the status light
is green. Then open the settings page and make sure the address is obtained automatically. If
the problem continues, restart the router by unplugging it for thirty seconds. Write down any
error code shown on the screen, for example E-104 or E-221, and include it when you contact
support. Most problems are solved by one of these steps.

---

Understanding memory and caches

A computer keeps data in several kinds of memory. Registers are tiny and extremely fast. Caches
are larger and a little slower. Main memory is much larger again but takes hundreds of cycles to
reach. A program runs fast when the data it needs next is already in a nearby cache. This is why
the order in which a program reads memory can matter more than the number of operations it
performs. Reading an array from start to end is fast; jumping around at random is slow.

The same idea applies one level up. When a model is too large for the accelerator, the device
memory acts as a cache for the host memory, and a good policy decides which weights to keep
close. Common policies evict the least recently used or the least frequently used item. Better
policies use knowledge of the workload to predict what will be needed and load it in advance.

---

Testing advice

Write tests that would fail if the code were wrong. Compare against an independent reference,
such as a slow but simple implementation or values computed by hand. Test the edges: empty
inputs, a single element, the largest allowed size, invalid arguments and files that end early.
Keep tests fast so that people run them often. When a bug is found, first write a test that
reproduces it, then fix the code, and keep the test so that the bug never returns.

---

Quelques phrases en français

Le matin, le marché est plein de monde. On y trouve des fruits, des légumes, du fromage et du
pain frais. Les enfants jouent près de la fontaine pendant que leurs parents font les courses.
Après le déjeuner, la place redevient calme et les chats dorment au soleil.

---

A glossary of common terms

algorithm: a precise list of steps that solves a problem.
array: a sequence of values stored one after another in memory.
batch: a group of inputs processed together for efficiency.
cache: a small fast store that keeps recently or frequently used data.
embedding: a vector of numbers that represents a token or other item.
gradient: the direction in which a function increases most quickly.
latency: the time between a request and its response.
matrix: a rectangular table of numbers with rows and columns.
parameter: a value that a model learns during training.
probability: a number between zero and one that measures how likely something is.
softmax: a function that turns a list of scores into probabilities that sum to one.
throughput: the amount of work completed per unit of time.
token: a small piece of text, such as a word, part of a word or a single character.
vector: an ordered list of numbers.

---

Frequently asked questions

Can I use the program without an internet connection? Yes. Everything runs locally, and no data
is sent anywhere.

Which file formats are supported? The program reads GGUF files with weights stored as F32, F16,
BF16 or one of the common quantized formats such as Q8_0, Q4_0 and Q4_K.

How much memory do I need? It depends on the model and on how many experts you keep in memory.
The information panel shows an estimate before you load anything.

Where are my results stored? In a local database file in your user folder. You can export any
experiment as a report in HTML, PDF, CSV or JSON.

---

for (int layer = 0; layer < n_layer; ++layer) {
    x = rms_norm(h) * attn_norm[layer];
    h = h + attention(x, layer);
    x = rms_norm(h) * ffn_norm[layer];
    auto logits = router[layer] * x;
    auto top = top_k(softmax(logits), 2);
    h = h + mix_experts(x, top, layer);
}
return output * (rms_norm(h) * output_norm);

---

The end of the day

When the last customer had gone, the shopkeeper turned the sign on the door from open to closed,
counted the money in the drawer and wrote the total in a small black book. She swept the floor,
watered the plants in the window and switched off the lights one by one. Outside, the street
lamps were already on, and the first stars appeared above the roofs. She locked the door, put
the key in her pocket and walked home slowly, thinking about nothing in particular.
)CORPUS";
  return kText;
}

}  // namespace emoe::tokenizer
