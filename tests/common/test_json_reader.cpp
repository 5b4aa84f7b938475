// The strict JSON reader: valid documents give the values written by hand below (escapes,
// surrogate pairs, integers and doubles) and each value's line and column; malformed ones give a
// Corrupt status with the byte column, counted by hand, and none of them crashes (including a
// 10000-deep nesting bomb and every prefix of a valid document).
#include <QtTest>
#include <cstdint>
#include <string>

#include "core/common/json_reader.h"

using namespace emoe;

namespace {

JsonError error_of(const std::string& text) {
  JsonError e;
  auto r = parse_json(text, {}, &e);
  if (r.ok()) e.problem = "<parsed>";
  return e;
}

}  // namespace

class TestJsonReader : public QObject {
  Q_OBJECT

 private slots:
  void object_and_array() {
    auto v = parse_json(" {\"a\": 1, \"b\" : [true, false, null, \"x\"], \"c\": {}} \n");
    QVERIFY2(v.ok(), v.status().message().c_str());
    QVERIFY(v->is_object());
    QCOMPARE(v->members().size(), size_t{3});
    QCOMPARE(v->members()[0].first, std::string("a"));
    QCOMPARE(v->members()[1].first, std::string("b"));
    QCOMPARE(v->members()[2].first, std::string("c"));
    QVERIFY(v->find("a")->is_integer());
    QCOMPARE(v->find("a")->as_int(), int64_t{1});
    const JsonValue* b = v->find("b");
    QVERIFY(b && b->is_array());
    QCOMPARE(b->items().size(), size_t{4});
    QVERIFY(b->items()[0].is_bool() && b->items()[0].as_bool());
    QVERIFY(b->items()[1].is_bool() && !b->items()[1].as_bool());
    QVERIFY(b->items()[2].is_null());
    QCOMPARE(b->items()[3].as_string(), std::string("x"));
    QVERIFY(v->find("c")->is_object() && v->find("c")->members().empty());
    QVERIFY(v->find("missing") == nullptr);
    QVERIFY(b->find("a") == nullptr);  // not an object

    auto empty = parse_json("[]");
    QVERIFY(empty.ok() && empty->is_array() && empty->items().empty());
    auto scalar = parse_json("\"only\"");
    QVERIFY(scalar.ok() && scalar->as_string() == "only");
  }

  void string_escapes() {
    // JSON text: "a\"b\\c\/d\b\f\n\r\tz"
    auto v = parse_json("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\tz\"");
    QVERIFY2(v.ok(), v.status().message().c_str());
    QCOMPARE(v->as_string(), std::string("a\"b\\c/d\b\f\n\r\tz"));

    // \u00e9 is U+00E9 (C3 A9), \u4e2d is U+4E2D (E4 B8 AD), \u0041 is 'A'.
    auto u = parse_json("\"\\u00e9\\u4e2d\\u0041\"");
    QVERIFY2(u.ok(), u.status().message().c_str());
    QCOMPARE(u->as_string(), std::string("\xC3\xA9\xE4\xB8\xAD"
                                         "A"));

    // Surrogate pair D83D DE00 is U+1F600 (F0 9F 98 80), either hex case.
    for (const char* text : {"\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\""}) {
      auto s = parse_json(text);
      QVERIFY2(s.ok(), s.status().message().c_str());
      QCOMPARE(s->as_string(), std::string("\xF0\x9F\x98\x80"));
    }
    // U+10FFFF is DBFF DFFF (F4 8F BF BF).
    auto top = parse_json("\"\\udbff\\udfff\"");
    QVERIFY(top.ok());
    QCOMPARE(top->as_string(), std::string("\xF4\x8F\xBF\xBF"));

    // \u0000 is one NUL byte inside the string.
    auto nul = parse_json("\"x\\u0000y\"");
    QVERIFY(nul.ok());
    QCOMPARE(nul->as_string(), std::string("x\0y", 3));

    // Raw UTF-8 passes through unchanged.
    auto raw = parse_json("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
    QVERIFY(raw.ok());
    QCOMPARE(raw->as_string(), std::string("caf\xC3\xA9 \xF0\x9F\x98\x80"));

    // Keys are unescaped too.
    auto key = parse_json("{\"k\\u0031\": 2}");
    QVERIFY(key.ok() && key->find("k1") && key->find("k1")->as_int() == 2);
  }

  void numbers() {
    struct Case {
      const char* text;
      bool integer;
      int64_t i;
      double d;
    };
    const Case cases[] = {
        {"0", true, 0, 0.0},
        {"-0", true, 0, -0.0},
        {"42", true, 42, 42.0},
        {"-17", true, -17, -17.0},
        {"9223372036854775807", true, INT64_MAX, 9223372036854775807.0},
        {"-9223372036854775808", true, INT64_MIN, -9223372036854775808.0},
        {"9223372036854775808", false, 0, 9223372036854775808.0},  // beyond int64
        {"1.5", false, 0, 1.5},
        {"-2.25e3", false, 0, -2250.0},
        {"1E2", false, 0, 100.0},
        {"2.5E+1", false, 0, 25.0},
        {"1e-2", false, 0, 0.01},
        {"0.1", false, 0, 0.1},
        {"-0.0", false, 0, -0.0},
        {"1e-400", false, 0, 0.0},  // underflows to zero
        {"0.000000000000000000000000000001", false, 0, 1e-30},
    };
    for (const Case& c : cases) {
      auto v = parse_json(c.text);
      QVERIFY2(v.ok(), c.text);
      QVERIFY2(v->is_number(), c.text);
      QVERIFY2(v->is_integer() == c.integer, c.text);
      if (c.integer) QVERIFY2(v->as_int() == c.i, c.text);
      QVERIFY2(v->as_double() == c.d, c.text);
    }
    auto arr = parse_json("[1,-1,0.5]");
    QVERIFY(arr.ok());
    QCOMPARE(arr->items()[1].as_int(), int64_t{-1});
    QCOMPARE(arr->items()[2].as_double(), 0.5);
  }

  void nesting_within_limit() {
    std::string deep = std::string(128, '[') + std::string(128, ']');
    QVERIFY(parse_json(deep).ok());
    JsonParseOptions o;
    o.max_depth = 3;
    QVERIFY(parse_json("[[[1]]]", o).ok());
    QVERIFY(!parse_json("[[[[1]]]]", o).ok());
    QVERIFY(!parse_json("{\"a\":{\"b\":{\"c\":{}}}}", o).ok());
  }

  void value_count_limit() {
    JsonParseOptions o;
    o.max_values = 4;  // the array and its three numbers
    QVERIFY(parse_json("[1,2,3]", o).ok());
    JsonError e;
    QVERIFY(!parse_json("[1,2,3,4]", o, &e).ok());
    QCOMPARE(e.column, size_t{8});  // the fourth number
    QVERIFY(QString::fromStdString(e.problem).contains("more than 4 values"));
  }

  void malformed_inputs_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<int>("column");
    QTest::addColumn<QString>("problem");
    // Columns are 1-based byte positions, counted by hand.
    QTest::newRow("trailing comma in array") << QByteArray("[1,2,]") << 6 << "trailing comma";
    QTest::newRow("trailing comma in object") << QByteArray("{\"a\":1,}") << 8 << "trailing comma";
    QTest::newRow("unterminated string") << QByteArray("[\"abc") << 2 << "unterminated string";
    QTest::newRow("unterminated at escape") << QByteArray("\"ab\\") << 4 << "unterminated escape";
    QTest::newRow("bad escape") << QByteArray("[\"a\\x\"]") << 4 << "invalid escape";
    QTest::newRow("short unicode escape") << QByteArray("\"\\u12g4\"") << 2 << "4 hex digits";
    QTest::newRow("lone high surrogate") << QByteArray("\"\\ud800\"") << 2 << "lone high";
    QTest::newRow("high surrogate then letter")
        << QByteArray("\"\\ud800\\u0041\"") << 2 << "lone high";
    QTest::newRow("lone low surrogate") << QByteArray("[1, \"\\udc00\"]") << 6 << "lone low";
    QTest::newRow("depth bomb") << QByteArray(10000, '[') << 129 << "nesting deeper";
    QTest::newRow("object depth bomb")
        << QByteArray("{\"a\":").repeated(200) << 641 << "nesting deeper";
    QTest::newRow("bad literal") << QByteArray("tru") << 1 << "invalid literal";
    QTest::newRow("NaN") << QByteArray("NaN") << 1 << "unexpected 'N'";
    QTest::newRow("leading zero") << QByteArray("01") << 2 << "leading zero";
    QTest::newRow("dot without digits") << QByteArray("1.") << 3 << "after '.'";
    QTest::newRow("minus alone") << QByteArray("-") << 2 << "expected a digit";
    QTest::newRow("empty exponent") << QByteArray("1e") << 3 << "exponent";
    QTest::newRow("plus sign") << QByteArray("+1") << 1 << "unexpected '+'";
    QTest::newRow("overflow") << QByteArray("[1e400]") << 2 << "out of range";
    QTest::newRow("missing colon") << QByteArray("{\"a\" 1}") << 6 << "expected ':'";
    QTest::newRow("missing comma") << QByteArray("[1 2]") << 4 << "expected ',' or ']'";
    QTest::newRow("unquoted key") << QByteArray("{a:1}") << 2 << "string key";
    QTest::newRow("duplicate key") << QByteArray("{\"a\":1,\"a\":2}") << 8 << "duplicate key";
    QTest::newRow("empty input") << QByteArray("") << 1 << "unexpected end";
    QTest::newRow("only spaces") << QByteArray("   ") << 4 << "unexpected end";
    QTest::newRow("two values") << QByteArray("1 2") << 3 << "after the JSON value";
    QTest::newRow("unclosed array") << QByteArray("[1,2") << 5 << "unexpected end";
    QTest::newRow("unclosed object") << QByteArray("{\"a\":1") << 7 << "unexpected end";
    QTest::newRow("raw tab in string") << QByteArray("\"a\tb\"") << 3 << "control character";
    QTest::newRow("invalid UTF-8 byte") << QByteArray("\"a\xff\"") << 3 << "invalid UTF-8";
    QTest::newRow("overlong UTF-8") << QByteArray("\"\xC0\xAF\"") << 2 << "invalid UTF-8";
    QTest::newRow("UTF-8 surrogate") << QByteArray("\"\xED\xA0\x80\"") << 2 << "invalid UTF-8";
    QTest::newRow("truncated UTF-8") << QByteArray("\"\xE4\xB8") << 2 << "invalid UTF-8";
    QTest::newRow("byte outside string") << QByteArray("[\xfe]") << 2 << "byte 0xfe";
    QTest::newRow("NUL outside string") << QByteArray("[1,\0]", 5) << 4 << "byte 0x00";
    QTest::newRow("comment") << QByteArray("[1 /* c */]") << 4 << "unexpected '/'";
    QTest::newRow("single quotes") << QByteArray("['a']") << 2 << "unexpected";
  }

  void malformed_inputs() {
    QFETCH(QByteArray, text);
    QFETCH(int, column);
    QFETCH(QString, problem);
    const std::string s(text.constData(), static_cast<size_t>(text.size()));
    JsonError e;
    auto r = parse_json(s, {}, &e);
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), StatusCode::Corrupt);
    QCOMPARE(static_cast<int>(e.column), column);
    QCOMPARE(e.line, size_t{1});
    QVERIFY2(QString::fromStdString(e.problem).contains(problem), e.problem.c_str());
    const std::string want = "column " + std::to_string(column) + ": ";
    QVERIFY2(r.status().message().rfind(want, 0) == 0, r.status().message().c_str());
    QVERIFY(!is_valid_json(s));
  }

  void multi_line_error_position() {
    // The bad value sits on line 3, column 8.
    const std::string text = "{\n  \"a\": 1,\n  \"b\": tru\n}";
    JsonError e;
    auto r = parse_json(text, {}, &e);
    QVERIFY(!r.ok());
    QCOMPARE(e.line, size_t{3});
    QCOMPARE(e.column, size_t{8});
    QCOMPARE(e.offset, size_t{19});
    QVERIFY2(r.status().message().rfind("line 3, column 8: ", 0) == 0,
             r.status().message().c_str());
  }

  void many_keys_duplicate_detected() {
    // Past the linear scan's size the set takes over; a late duplicate is still found.
    std::string text = "{";
    for (int i = 0; i < 40; ++i)
      text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    const size_t dup_at = text.size();
    text += "\"k3\":0}";
    JsonError e;
    QVERIFY(!parse_json(text, {}, &e).ok());
    QCOMPARE(e.offset, dup_at);
    QVERIFY(QString::fromStdString(e.problem).contains("duplicate key \"k3\""));
    auto ok = parse_json(text.substr(0, dup_at - 1) + "}");
    QVERIFY(ok.ok());
    QCOMPARE(ok->members().size(), size_t{40});
    QCOMPARE(ok->find("k39")->as_int(), int64_t{39});
  }

  void every_prefix_fails_without_crashing() {
    const std::string doc =
        "{\"a\":[1,-2.5e3,true,null],\"s\":\"x\\u00e9\\ud83d\\ude00\\n\",\"o\":{\"k\":false}}";
    QVERIFY(parse_json(doc).ok());
    for (size_t n = 0; n < doc.size(); ++n) {
      JsonError e;
      auto r = parse_json(doc.substr(0, n), {}, &e);
      QVERIFY2(!r.ok(), doc.substr(0, n).c_str());
      QVERIFY(e.column >= 1 && e.column <= n + 1);
    }
    // Every single-byte corruption parses or fails, never crashes.
    for (size_t i = 0; i < doc.size(); ++i) {
      for (int b : {0x00, 0x22, 0x5c, 0x7b, 0x5d, 0x80, 0xff}) {
        std::string bad = doc;
        bad[i] = static_cast<char>(b);
        (void)parse_json(bad);
      }
    }
  }

  void value_positions() {
    // Lines and byte columns counted by hand: the first byte of each value.
    const std::string text =
        "{\n"                                            // line 1
        "  \"a\": 12,\n"                                 // line 2: 12 at column 8
        "  \"b\": [true,\r\n"                            // line 3: [ at 8, true at 9
        "\t\"x\", null],\n"                              // line 4: "x" at 2, null at 7
        "  \"c\": {\"d\": -1.5}, \"e\": \"\\u00e9z\"\n"  // line 5
        "}";
    auto v = parse_json(text);
    QVERIFY2(v.ok(), v.status().message().c_str());
    QCOMPARE(v->line(), size_t{1});
    QCOMPARE(v->column(), size_t{1});
    const JsonValue* a = v->find("a");
    QCOMPARE(a->line(), size_t{2});
    QCOMPARE(a->column(), size_t{8});
    const JsonValue* b = v->find("b");
    QCOMPARE(b->line(), size_t{3});
    QCOMPARE(b->column(), size_t{8});
    QCOMPARE(b->items()[0].line(), size_t{3});
    QCOMPARE(b->items()[0].column(), size_t{9});
    QCOMPARE(b->items()[1].line(), size_t{4});  // after CR LF
    QCOMPARE(b->items()[1].column(), size_t{2});
    QCOMPARE(b->items()[2].line(), size_t{4});
    QCOMPARE(b->items()[2].column(), size_t{7});
    const JsonValue* c = v->find("c");
    QCOMPARE(c->line(), size_t{5});
    QCOMPARE(c->column(), size_t{8});
    QCOMPARE(c->find("d")->line(), size_t{5});
    QCOMPARE(c->find("d")->column(), size_t{14});
    QCOMPARE(v->find("e")->line(), size_t{5});
    QCOMPARE(v->find("e")->column(), size_t{26});  // columns count bytes, escapes included

    // Leading whitespace and a single-line document.
    auto s = parse_json("  \n\n   [1, 22]");
    QVERIFY(s.ok());
    QCOMPARE(s->line(), size_t{3});
    QCOMPARE(s->column(), size_t{4});
    QCOMPARE(s->items()[1].line(), size_t{3});
    QCOMPARE(s->items()[1].column(), size_t{8});

    // Values built in code have no position.
    QCOMPARE(JsonValue().line(), size_t{0});
    QCOMPARE(JsonValue().column(), size_t{0});

    // A copy keeps the position.
    const JsonValue copy = *a;
    QCOMPARE(copy.line(), size_t{2});
  }

  void error_helper_reports_parsed() {
    QCOMPARE(error_of("[1]").problem, std::string("<parsed>"));
    QCOMPARE(error_of("[1,]").column, size_t{4});
  }
};

QTEST_GUILESS_MAIN(TestJsonReader)
#include "test_json_reader.moc"
