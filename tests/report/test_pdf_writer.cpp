// The PDF writer, read back by the independent reader in report_test_support.h: header, xref
// offsets, trailer, page tree, stream lengths; text shown with Tj in WinAnsi,
// escaped (parentheses and backslashes); a plot page shows the same texts as the SVG of the
// same plot (one layout).
#include <QXmlStreamReader>
#include <QtTest>
#include <string>
#include <vector>

#include "core/report/pdf_document.h"
#include "core/report/pdf_plot.h"
#include "core/report/pdf_table.h"
#include "core/report/svg_plot.h"
#include "core/report/text_encoding.h"
#include "tests/report/report_test_support.h"

using namespace emoe::report;
using report_test::parse_pdf;

namespace {

std::vector<std::string> svg_texts(const std::string& svg) {
  std::vector<std::string> out;
  QXmlStreamReader xml(QByteArray::fromStdString(svg));
  while (!xml.atEnd()) {
    if (xml.readNext() == QXmlStreamReader::StartElement && xml.name() == QLatin1String("text")) {
      out.push_back(xml.readElementText().toStdString());
    }
  }
  return out;
}

}  // namespace

class TestPdfWriter : public QObject {
  Q_OBJECT

 private slots:
  void structure_and_text() {
    PdfDocument doc(kA4Width, kA4Height);
    doc.set_title("Report \xC3\xA9t\xC3\xA9");
    doc.set_creation_time(1'700'000'000);
    PdfContent a;
    a.text(72, 700, "Hello (world) \\ back", Font::Helvetica, 12);
    a.text(72, 680, "caf\xC3\xA9 \xE2\x80\x93 \xE6\x97\xA5", Font::HelveticaBold, 12);
    a.set_stroke({255, 0, 0});
    a.move_to(0, 0);
    a.line_to(100, 100);
    a.stroke();
    doc.add_page(a.str());
    PdfContent b;
    b.text(72, 700, "second", Font::Courier, 10, {}, 90.0);
    b.circle(100, 100, 5);
    b.fill();
    doc.add_page(b.str());
    const std::string pdf = doc.finish();

    const auto parsed = parse_pdf(pdf);
    QVERIFY2(parsed.error.empty(), parsed.error.c_str());
    QCOMPARE(parsed.pages.size(), size_t{2});
    QCOMPARE(parsed.pages[0].texts,
             (std::vector<std::string>{"Hello (world) \\ back", "caf\xE9 \x96 ?"}));
    QCOMPARE(parsed.pages[1].texts, std::vector<std::string>{"second"});
    // Escaped in the file, and the stream stays ASCII so it can be grepped.
    QVERIFY(pdf.find("(Hello \\(world\\) \\\\ back) Tj") != std::string::npos);
    QVERIFY(pdf.find("(caf\\351 \\226 ?) Tj") != std::string::npos);
    for (const auto& page : parsed.pages) {
      for (char c : page.content) QVERIFY(static_cast<unsigned char>(c) < 0x80);
    }
    // Standard fonts in WinAnsi, rotated text via a matrix.
    QVERIFY(pdf.find("/BaseFont /Helvetica /Encoding /WinAnsiEncoding") != std::string::npos);
    QVERIFY(pdf.find("/BaseFont /Courier") != std::string::npos);
    QVERIFY(parsed.pages[1].content.find("0 1 -1 0 72 700 Tm") != std::string::npos);
    QVERIFY(parsed.info.find("/Title <FEFF005200650070006F00720074002000E9007400E9>") !=
            std::string::npos);
    QVERIFY(parsed.info.find("/CreationDate (D:20231114221320Z)") != std::string::npos);
  }

  void empty_document_has_one_page() {
    const auto parsed = parse_pdf(PdfDocument(100, 100).finish());
    QVERIFY2(parsed.error.empty(), parsed.error.c_str());
    QCOMPARE(parsed.pages.size(), size_t{1});
  }

  void reader_catches_broken_files() {
    // The reader is the oracle for the report tests, so it must fail on damage.
    PdfDocument doc(100, 100);
    PdfContent c;
    c.text(1, 1, "x", Font::Helvetica, 5);
    doc.add_page(c.str());
    const std::string good = doc.finish();
    QVERIFY(parse_pdf(good).error.empty());
    std::string shifted = good;
    shifted.insert(shifted.find("1 0 obj"), 1, ' ');
    QVERIFY(!parse_pdf(shifted).error.empty());
    std::string bad_length = good;
    const size_t at = bad_length.find("/Length ") + 8;
    bad_length[at] = bad_length[at] == '9' ? '8' : static_cast<char>(bad_length[at] + 1);
    QVERIFY(!parse_pdf(bad_length).error.empty());
    std::string bad_size = good;
    bad_size.replace(bad_size.find("/Size 9"), 7, "/Size 8");
    QVERIFY(!parse_pdf(bad_size).error.empty());
  }

  void numbers_are_plain() {
    QCOMPARE(pdf_number(1.0), std::string("1"));
    QCOMPARE(pdf_number(-0.001), std::string("0"));
    QCOMPARE(pdf_number(2.5), std::string("2.5"));
    QCOMPARE(pdf_number(1e20), std::string("100000000000000000000"));
    QCOMPARE(pdf_number(NAN), std::string("0"));
  }

  void plot_page_matches_svg() {
    Plot plot;
    plot.id = "p";
    plot.title = "Latency (p99) & more";
    plot.x_label = "Rate";
    plot.y_label = "ms";
    plot.series.push_back({"emoe, 60%", {1, 2, 4}, {10, 20, 35}, true});
    plot.series.push_back({"<b>&\"(x)\\", {1, 2}, {15, 25}, true});
    PdfContent page;
    draw_plot_pdf(plot, page, 36, 559, 770, 500);
    PdfDocument doc(842, 595);
    doc.add_page(page.str());
    const auto parsed = parse_pdf(doc.finish());
    QVERIFY2(parsed.error.empty(), parsed.error.c_str());
    // One layout: the PDF shows exactly the SVG's texts, in the same order.
    std::vector<std::string> expected;
    for (const std::string& t : svg_texts(plot_svg(plot, 770, 500))) {
      expected.push_back(utf8_to_winansi(t));
    }
    QCOMPARE(parsed.pages[0].texts, expected);
    QVERIFY(report_test::page_shows(parsed.pages[0], "Latency (p99) & more"));
    QVERIFY(report_test::page_shows(parsed.pages[0], "emoe, 60%"));
    QVERIFY(report_test::page_shows(parsed.pages[0], "<b>&\"(x)\\"));
    QVERIFY(parsed.pages[0].content.find("(<b>&\"\\(x\\)\\\\) Tj") != std::string::npos);
  }

  void table_pages_split_rows_and_columns() {
    Table t;
    t.title = "Wide";
    for (int c = 0; c < 30; ++c) {
      t.columns.push_back({"Column number " + std::to_string(c), "c" + std::to_string(c), c > 0});
    }
    for (int r = 0; r < 130; ++r) {
      std::vector<TableCell> row;
      row.push_back(text_cell("row-" + std::to_string(r)));
      for (int c = 1; c < 30; ++c) row.push_back(number_cell(r * 1000.0 + c, 1));
      t.rows.push_back(row);
    }
    PdfTableLayout layout;
    layout.page_width = 842;
    layout.page_height = 595;
    const std::vector<std::string> pages = pdf_table_pages(t, layout);
    PdfDocument doc(842, 595);
    for (const auto& p : pages) doc.add_page(p);
    const auto parsed = parse_pdf(doc.finish());
    QVERIFY2(parsed.error.empty(), parsed.error.c_str());
    QVERIFY(parsed.pages.size() >= 4);  // several row pages x several column bands
    // Every cell is shown exactly once; the key column on every page of its rows.
    std::map<std::string, int> seen;
    for (const auto& page : parsed.pages) {
      QVERIFY(report_test::page_shows_prefix(page, "Wide"));
      for (const std::string& s : page.texts) ++seen[s];
    }
    for (int r = 0; r < 130; ++r) {
      for (int c = 1; c < 30; ++c) {
        const std::string v = format_fixed(r * 1000.0 + c, 1);
        QVERIFY2(seen[v] == 1, v.c_str());
      }
      QVERIFY(seen["row-" + std::to_string(r)] >= 2);  // repeated in every band
    }
    // A table a little too wide for the page is set smaller instead of split into bands.
    Table snug;
    snug.title = "Snug";
    for (int c = 0; c < 12; ++c) snug.columns.push_back({"C" + std::to_string(c), "c", true});
    snug.rows.push_back({});
    for (int c = 0; c < 12; ++c) snug.rows[0].push_back(text_cell(std::string(18, '8')));
    // 12 columns of 18 digits at 7 pt: 12 * (18 * 3.892 + 6) = 913 pt > 770 pt usable, but
    // within the 0.8 shrink: one page, in a smaller size; 13 columns would not be.
    const std::vector<std::string> snug_pages = pdf_table_pages(snug, layout);
    QCOMPARE(snug_pages.size(), size_t{1});
    QVERIFY(snug_pages[0].find("/F1 7 Tf") == std::string::npos);
    snug.columns.push_back({"C12", "c", true});
    snug.rows[0].push_back(text_cell(std::string(18, '8')));
    QCOMPARE(pdf_table_pages(snug, layout).size(), size_t{2});
    QVERIFY(pdf_table_pages(snug, layout)[0].find("/F1 7 Tf") != std::string::npos);

    // Empty table: one page with its headers.
    Table empty;
    empty.title = "Nothing";
    empty.columns = {{"A", "a", false}};
    QCOMPARE(pdf_table_pages(empty, layout).size(), size_t{1});
  }
};

QTEST_GUILESS_MAIN(TestPdfWriter)
#include "test_pdf_writer.moc"
