#include "ui/token_trace_view.h"

#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>

#include "ui/view_style.h"

namespace emoe::ui {
namespace {

enum Column { kLayer = 0, kRouter, kUsed, kResidency, kColumns };

QString expert_list(const std::vector<int32_t>& experts, const std::vector<float>& weights) {
  QStringList parts;
  for (size_t j = 0; j < experts.size(); ++j) {
    QString s = QStringLiteral("e%1").arg(experts[j]);
    if (j < weights.size()) s += QStringLiteral(" ") + QString::number(weights[j], 'f', 2);
    parts << s;
  }
  return parts.join(QStringLiteral(", "));
}

QVariantList id_list(const std::vector<int32_t>& ids) {
  QVariantList out;
  for (int32_t id : ids) out << id;
  return out;
}

bool contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Control characters and spaces at the ends made visible for the header.
QString visible_piece(const std::string& piece) {
  QString s = QString::fromUtf8(piece.data(), static_cast<qsizetype>(piece.size()));
  s.replace(QLatin1Char('\n'), QStringLiteral("\\n"));
  s.replace(QLatin1Char('\t'), QStringLiteral("\\t"));
  s.replace(QLatin1Char('\r'), QStringLiteral("\\r"));
  return s;
}

}  // namespace

TokenTraceView::TokenTraceView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);
  header_ = new QLabel(this);
  header_->setObjectName(QStringLiteral("token_header"));
  header_->setTextFormat(Qt::PlainText);
  header_->setWordWrap(true);
  header_->setContentsMargins(6, 2, 6, 2);
  header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(header_);
  table_ = new QTableWidget(0, kColumns, this);
  table_->setHorizontalHeaderLabels({tr("Layer"), tr("Router top-k"), tr("Used"), tr("Residency")});
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setWordWrap(false);
  layout->addWidget(table_, 1);
  clear();
}

void TokenTraceView::clear() {
  shown_.reset();
  table_->setRowCount(0);
  header_->setText(tr("No token selected: click a generated token in the console."));
}

void TokenTraceView::show_token(const TokenTelemetry& token) {
  shown_ = token;
  const QPalette pal = palette();
  const QColor fallback_bg = style::tint(style::bad_color(pal), 80);
  const QColor loaded_bg = style::tint(style::warn_color(pal), 80);
  const QColor hit_bg = style::tint(style::good_color(pal), 45);

  header_->setText(tr("Token \"%1\"  |  id %2  |  position %3  |  %4  |  request %5  |  %6 MoE "
                      "layers")
                       .arg(visible_piece(token.piece))
                       .arg(token.token_id)
                       .arg(token.pos)
                       .arg(token.phase == engine::Phase::Prefill ? tr("prefill") : tr("decode"))
                       .arg(token.request_id)
                       .arg(token.layers.size()));

  // Columns are sized once after filling: with ResizeToContents on, every setItem would
  // measure the whole column again.
  QHeaderView* columns = table_->horizontalHeader();
  columns->setSectionResizeMode(QHeaderView::Interactive);
  table_->setRowCount(static_cast<int>(token.layers.size()));
  for (int row = 0; row < static_cast<int>(token.layers.size()); ++row) {
    const LayerTrace& l = token.layers[row];

    auto* layer = new QTableWidgetItem(QString::number(l.layer));
    layer->setData(Qt::UserRole, l.layer);
    layer->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    table_->setItem(row, kLayer, layer);

    auto* router = new QTableWidgetItem(expert_list(l.router_experts, l.router_weights));
    router->setData(Qt::UserRole, id_list(l.router_experts));
    QVariantList weights;
    for (float w : l.router_weights) weights << static_cast<double>(w);
    router->setData(Qt::UserRole + 1, weights);
    table_->setItem(row, kRouter, router);

    // Used experts outside the router's top-k replaced the top-k experts that were not used,
    // in order (fallback routing substitutes a resident expert for a missing one).
    std::vector<int32_t> substitutes, replaced;
    for (int32_t e : l.used_experts) {
      if (!contains(l.router_experts, e)) substitutes.push_back(e);
    }
    for (int32_t e : l.router_experts) {
      if (!contains(l.used_experts, e)) replaced.push_back(e);
    }
    auto* used = new QTableWidgetItem(expert_list(l.used_experts, l.used_weights));
    used->setData(Qt::UserRole, id_list(l.used_experts));
    used->setData(Qt::UserRole + 1, id_list(substitutes));
    if (!substitutes.empty()) {
      QStringList tips;
      for (size_t j = 0; j < substitutes.size(); ++j) {
        tips << (j < replaced.size()
                     ? tr("e%1: fallback for e%2").arg(substitutes[j]).arg(replaced[j])
                     : tr("e%1: fallback (not in the router's top-k)").arg(substitutes[j]));
      }
      used->setToolTip(tips.join(QStringLiteral("\n")));
      used->setBackground(fallback_bg);
    }
    table_->setItem(row, kUsed, used);

    QStringList parts, statuses;
    bool any_loaded = false, any_fallback = false, all_known = true;
    for (size_t j = 0; j < l.router_experts.size(); ++j) {
      const int32_t e = l.router_experts[j];
      const auto it = std::find(l.used_experts.begin(), l.used_experts.end(), e);
      const bool is_used = it != l.used_experts.end();
      const size_t used_index = static_cast<size_t>(it - l.used_experts.begin());
      const bool loaded = is_used && used_index < l.used_loaded.size() && l.used_loaded[used_index];
      QString status;
      if (j < l.router_resident.size() && l.router_resident[j]) {
        status = QStringLiteral("hit");
      } else if (loaded) {
        status = QStringLiteral("loaded");
        any_loaded = true;
      } else if (!is_used) {
        status = QStringLiteral("miss→fallback");
        any_fallback = true;
      } else {
        // Used without a residency report or a load (no device tier): nothing to tell.
        status = QStringLiteral("-");
        all_known = false;
      }
      parts << QStringLiteral("e%1 %2").arg(e).arg(status);
      statuses << status;
    }
    auto* residency = new QTableWidgetItem(parts.join(QStringLiteral(", ")));
    residency->setData(Qt::UserRole, id_list(l.router_experts));
    residency->setData(Qt::UserRole + 1, statuses);
    if (any_fallback) {
      residency->setBackground(fallback_bg);
    } else if (any_loaded) {
      residency->setBackground(loaded_bg);
    } else if (all_known && !l.router_experts.empty()) {
      residency->setBackground(hit_bg);
    }
    table_->setItem(row, kResidency, residency);
  }
  columns->setSectionResizeMode(QHeaderView::ResizeToContents);
}

}  // namespace emoe::ui
