// ensure_demo_model: writes a loadable demo model with the documented shape into a fresh
// directory, leaves a good file alone (same modification time), and replaces a corrupt one.
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/engine/engine.h"
#include "core/engine/generator.h"
#include "core/gguf/gguf_file.h"
#include "core/model/demo_model.h"
#include "core/model/model.h"

using namespace emoe;

class TestDemoModel : public QObject {
  Q_OBJECT

 private slots:
  void writes_the_documented_model() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const std::string dir = (tmp.path() + "/sub/dir").toStdString();  // created when missing
    double last = -1;
    auto path = model::ensure_demo_model(dir, [&](double f) {
      last = f;
      return true;
    });
    QVERIFY2(path.ok(), path.status().message().c_str());
    QCOMPARE(QString::fromStdString(*path), QString::fromStdString(dir + "/demo.gguf"));
    QCOMPARE(last, 1.0);
    auto m = model::Model::load(*path);
    QVERIFY2(m.ok(), m.status().message().c_str());
    const model::ModelConfig& c = (*m)->config();
    QCOMPARE(QString::fromStdString(c.name), QStringLiteral("eMoE demo"));
    QCOMPARE(QString::fromStdString(c.arch), QStringLiteral("llama"));
    QCOMPARE(c.n_layer, int64_t{6});
    QCOMPARE(c.n_embd, int64_t{256});
    QCOMPARE(c.n_expert, int64_t{8});
    QCOMPARE(c.n_expert_used, int64_t{2});
    QCOMPARE(c.n_ff_exp, int64_t{512});
    QCOMPARE(c.n_vocab, int64_t{4096});
    const gguf::TensorInfo* up = (*m)->file().find_tensor("blk.0.ffn_up_exps.weight");
    QVERIFY(up);
    QCOMPARE(up->type, kernels::TensorType::Q8_0);
    QCOMPARE(up->ne, (std::vector<int64_t>{256, 512, 8}));

    // It generates (a few greedy tokens) like any model.
    engine::EngineOptions eo;
    eo.n_ctx = 64;
    auto e = engine::Engine::create(**m, eo);
    QVERIFY(e.ok());
    auto seq = (*e)->new_sequence();
    QVERIFY(seq.ok());
    const std::vector<int32_t> prompt = (*m)->tokenizer().encode("hello world", true, false);
    engine::GenerateOptions go;
    go.max_new_tokens = 4;
    go.stop_at_eos = false;
    auto r = engine::generate(**e, *seq, prompt, go);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->generated.size(), size_t{4});
  }

  void second_call_keeps_the_file() {
    QTemporaryDir tmp;
    const std::string dir = tmp.path().toStdString();
    auto first = model::ensure_demo_model(dir);
    QVERIFY2(first.ok(), first.status().message().c_str());
    const auto t0 = std::filesystem::last_write_time(*first);
    const auto size0 = std::filesystem::file_size(*first);
    // Enough for a rewrite to show in the modification time on coarse file systems.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto second = model::ensure_demo_model(dir);
    QVERIFY2(second.ok(), second.status().message().c_str());
    QCOMPARE(*second, *first);
    QVERIFY(std::filesystem::last_write_time(*second) == t0);
    QCOMPARE(std::filesystem::file_size(*second), size0);
  }

  void replaces_a_corrupt_file() {
    QTemporaryDir tmp;
    const std::string path = tmp.path().toStdString() + "/demo.gguf";
    {
      std::ofstream out(path, std::ios::binary);
      out << "GGUF but not really";
    }
    auto p = model::ensure_demo_model(tmp.path().toStdString());
    QVERIFY2(p.ok(), p.status().message().c_str());
    auto m = model::Model::load(*p);
    QVERIFY2(m.ok(), m.status().message().c_str());
    QCOMPARE((*m)->config().n_layer, int64_t{6});
    // No temporary file is left behind.
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(tmp.path().toStdString())) {
      (void)entry;
      ++files;
    }
    QCOMPARE(files, 1);
  }

  void cancel_leaves_no_file() {
    QTemporaryDir tmp;
    auto p = model::ensure_demo_model(tmp.path().toStdString(), [](double) { return false; });
    QVERIFY(!p.ok());
    QCOMPARE(p.status().code(), StatusCode::Cancelled);
    QVERIFY(!std::filesystem::exists(tmp.path().toStdString() + "/demo.gguf"));
  }

  void refuses_an_unusable_directory() {
    QTemporaryDir tmp;
    const std::string file = tmp.path().toStdString() + "/plain";
    { std::ofstream(file) << "x"; }
    auto p = model::ensure_demo_model(file + "/below");
    QVERIFY(!p.ok());
    QVERIFY(!p.status().message().empty());
  }
};

QTEST_GUILESS_MAIN(TestDemoModel)
#include "test_demo_model.moc"
