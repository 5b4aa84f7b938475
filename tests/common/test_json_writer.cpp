// JsonWriter output checked against hand-written JSON and re-parsed with Qt's parser.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>
#include <cmath>

#include "core/common/json_writer.h"

class TestJsonWriter : public QObject {
  Q_OBJECT

 private slots:
  void nesting_and_commas() {
    emoe::JsonWriter j;
    j.begin_object().key("a").value(int64_t{1}).key("b").begin_array();
    j.value("x").value(true).null().begin_object().end_object().end_array();
    j.key("c").value(2.5).end_object();
    QCOMPARE(QString::fromStdString(j.str()),
             QStringLiteral("{\"a\":1,\"b\":[\"x\",true,null,{}],\"c\":2.5}"));
  }

  void escapes_and_non_finite() {
    emoe::JsonWriter j;
    j.begin_array().value("q\"b\\n\n\t\x01").value(std::nan("")).end_array();
    QCOMPARE(QString::fromStdString(j.str()),
             QStringLiteral("[\"q\\\"b\\\\n\\n\\t\\u0001\",null]"));
  }

  void invalid_utf8_becomes_replacement_character() {
    // Valid multi-byte text passes through; a lone continuation byte, a truncated sequence,
    // an overlong encoding and a surrogate are each replaced by U+FFFD.
    const std::string text = "caf\xC3\xA9 \x80 \xE2\x82 \xC0\xAF \xED\xA0\x80 \xF0\x9F\x98\x80";
    emoe::JsonWriter j;
    j.begin_object().key("t").value(text).end_object();
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromStdString(j.str()), &err);
    QCOMPARE(err.error, QJsonParseError::NoError);
    const QString got = doc.object()["t"].toString();
    QCOMPARE(got.left(4), QStringLiteral("caf\u00e9"));
    QVERIFY(got.endsWith(QString::fromUtf8("\xF0\x9F\x98\x80")));
    // Each invalid byte is replaced on its own: 80 (1), E2 82 (2), C0 AF (2), ED A0 80 (3).
    QCOMPARE(got.count(QChar(0xFFFD)), 8);
  }
};

QTEST_GUILESS_MAIN(TestJsonWriter)
#include "test_json_writer.moc"
