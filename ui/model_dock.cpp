#include "ui/model_dock.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableView>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <map>

#include "ui/controls_panel.h"

namespace emoe::ui {
namespace {

constexpr uint64_t kSlotAlign = 64;  // ExpertCache rounds slots to this (expert_cache.cpp)

// Numbers sort numerically in the tensor table.
QStandardItem* number_item(uint64_t v, const QString& text) {
  auto* item = new QStandardItem(text);
  item->setData(QVariant::fromValue<qulonglong>(v), Qt::UserRole);
  item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  return item;
}

QTableWidgetItem* cell(const QString& text, bool right = false) {
  auto* item = new QTableWidgetItem(text);
  item->setFlags(item->flags() & ~Qt::ItemIsEditable);
  if (right) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  return item;
}

QTableWidget* make_table(QWidget* parent, const QStringList& header) {
  auto* t = new QTableWidget(parent);
  t->setColumnCount(static_cast<int>(header.size()));
  t->setHorizontalHeaderLabels(header);
  t->verticalHeader()->setVisible(false);
  t->horizontalHeader()->setStretchLastSection(true);
  t->setSelectionBehavior(QAbstractItemView::SelectRows);
  t->setAlternatingRowColors(true);
  return t;
}

}  // namespace

std::vector<LayerExpertSize> expert_sizes(const ModelSummary& s) {
  static const QRegularExpression kBlock(QStringLiteral("^blk\\.(\\d+)\\."));
  std::map<int32_t, uint64_t> per_layer;
  for (const TensorRow& t : s.tensors) {
    if (!t.expert) continue;
    const auto m = kBlock.match(t.name);
    if (m.hasMatch()) per_layer[m.captured(1).toInt()] += t.bytes;
  }
  std::vector<LayerExpertSize> out;
  for (const auto& [layer, bytes] : per_layer) {
    LayerExpertSize e;
    e.layer = layer;
    e.layer_bytes = bytes;
    e.bytes_per_expert = s.n_expert > 0 ? bytes / static_cast<uint64_t>(s.n_expert) : 0;
    out.push_back(e);
  }
  return out;
}

uint64_t minimum_expert_budget(const ModelSummary& s) {
  uint64_t largest = s.expert_bytes_per_layer;
  uint64_t moe_layers = 0;
  for (const LayerExpertSize& e : expert_sizes(s)) {
    largest = std::max(largest, e.bytes_per_expert);
    ++moe_layers;
  }
  if (moe_layers == 0 && s.n_expert > 0) moe_layers = static_cast<uint64_t>(s.n_layer);
  const uint64_t slot = (largest + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  return static_cast<uint64_t>(std::max(s.n_expert_used, 0)) * slot * moe_layers;
}

MemoryEstimate estimate_memory(const ModelSummary& s, double budget_percent, int64_t n_batch) {
  MemoryEstimate e;
  e.dense_bytes = s.dense_bytes;
  e.all_expert_bytes = s.all_expert_bytes;
  e.min_expert_bytes = s.n_expert > 0 ? minimum_expert_budget(s) : 0;
  // Step buffers per token as plan_memory counts them.
  const uint64_t n_head = static_cast<uint64_t>(std::max(s.n_head, 1));
  const uint64_t head = s.n_embd_head > 0 ? static_cast<uint64_t>(s.n_embd_head)
                                          : static_cast<uint64_t>(std::max(s.n_embd, 0)) / n_head;
  const uint64_t n_q = n_head * head;
  const uint64_t n_kv = static_cast<uint64_t>(std::max(s.n_head_kv, 0)) * head;
  const uint64_t ff = static_cast<uint64_t>(std::max({s.n_ff, s.n_ff_exp, 0}));
  const uint64_t k = static_cast<uint64_t>(std::max(s.n_expert_used, 1));
  const uint64_t embd = static_cast<uint64_t>(std::max(s.n_embd, 0));
  const uint64_t floats = 3 * embd + 2 * n_q + 2 * n_kv + 3 * ff + (k + 2) * embd +
                          2 * static_cast<uint64_t>(std::max(s.n_expert, 0)) + 3 * k;
  e.scratch_bytes = 4 * static_cast<uint64_t>(std::max<int64_t>(n_batch, 1)) *
                    (floats + static_cast<uint64_t>(std::max(s.n_vocab, 0)));
  const double pct = std::clamp(budget_percent, 0.0, 100.0);
  e.expert_bytes = static_cast<uint64_t>(static_cast<double>(s.all_expert_bytes) * pct / 100.0);
  e.expert_bytes = std::clamp(e.expert_bytes, e.min_expert_bytes,
                              std::max(e.all_expert_bytes, e.min_expert_bytes));
  const uint64_t kv_train =
      s.kv_bytes_per_token * static_cast<uint64_t>(std::max<int64_t>(s.n_ctx_train, 0));
  e.device_bytes = e.dense_bytes + e.all_expert_bytes + e.scratch_bytes + kv_train;
  const uint64_t fixed = e.dense_bytes + e.expert_bytes + e.scratch_bytes;
  e.kv_bytes = e.device_bytes > fixed ? e.device_bytes - fixed : 0;
  e.max_context =
      s.kv_bytes_per_token > 0 ? static_cast<int64_t>(e.kv_bytes / s.kv_bytes_per_token) : 0;
  return e;
}

ModelDock::ModelDock(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  auto* top = new QHBoxLayout;
  title_ = new QLabel(tr("No model"), this);
  title_->setObjectName("modelTitle");
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* open = new QPushButton(tr("Open…"), this);
  top->addWidget(title_, 1);
  top->addWidget(open);
  layout->addLayout(top);

  auto* progress_row = new QHBoxLayout;
  progress_ = new QProgressBar(this);
  progress_->setRange(0, 1000);
  progress_->setTextVisible(true);
  cancel_ = new QPushButton(tr("Cancel"), this);
  progress_row->addWidget(progress_, 1);
  progress_row->addWidget(cancel_);
  layout->addLayout(progress_row);
  progress_->hide();
  cancel_->hide();

  error_ = new QLabel(this);
  error_->setObjectName("modelError");
  error_->setWordWrap(true);
  error_->setStyleSheet("color: #d03030");
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();
  layout->addWidget(error_);

  tabs_ = new QTabWidget(this);
  layout->addWidget(tabs_, 1);

  auto* overview_page = new QWidget(tabs_);
  auto* ov = new QVBoxLayout(overview_page);
  overview_ = new QLabel(overview_page);
  overview_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  overview_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  estimate_label_ = new QLabel(overview_page);
  estimate_label_->setObjectName("memoryEstimate");
  estimate_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  estimate_label_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  ov->addWidget(overview_);
  ov->addWidget(estimate_label_);
  ov->addStretch(1);
  tabs_->addTab(overview_page, tr("Overview"));

  metadata_ = make_table(tabs_, {tr("Key"), tr("Value")});
  tabs_->addTab(metadata_, tr("Metadata"));

  auto* tensor_page = new QWidget(tabs_);
  auto* tl = new QVBoxLayout(tensor_page);
  tl->setContentsMargins(0, 4, 0, 0);
  search_ = new QLineEdit(tensor_page);
  search_->setObjectName("tensorSearch");
  search_->setPlaceholderText(tr("Search tensors (name, type or shape)…"));
  search_->setClearButtonEnabled(true);
  tensors_ = new QStandardItemModel(0, 5, this);
  tensors_->setHorizontalHeaderLabels(
      {tr("Name"), tr("Type"), tr("Shape"), tr("Bytes"), tr("Expert")});
  proxy_ = new QSortFilterProxyModel(this);
  proxy_->setSourceModel(tensors_);
  proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);
  proxy_->setFilterKeyColumn(-1);
  proxy_->setSortRole(Qt::UserRole);
  tensor_view_ = new QTableView(tensor_page);
  tensor_view_->setModel(proxy_);
  tensor_view_->setSortingEnabled(true);
  tensor_view_->verticalHeader()->setVisible(false);
  tensor_view_->horizontalHeader()->setStretchLastSection(true);
  tensor_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  tensor_view_->setAlternatingRowColors(true);
  tl->addWidget(search_);
  tl->addWidget(tensor_view_, 1);
  tabs_->addTab(tensor_page, tr("Tensors"));
  connect(search_, &QLineEdit::textChanged, proxy_, &QSortFilterProxyModel::setFilterFixedString);

  experts_ = make_table(tabs_, {tr("Layer"), tr("Per expert"), tr("Layer total")});
  tabs_->addTab(experts_, tr("Experts"));

  connect(open, &QPushButton::clicked, this, &ModelDock::open_requested);
  connect(cancel_, &QPushButton::clicked, this, &ModelDock::cancel_requested);
}

void ModelDock::loading_started(const QString& path) {
  error_->hide();
  title_->setText(tr("Loading %1…").arg(QFileInfo(path).fileName()));
  progress_->setValue(0);
  progress_->setFormat(tr("opening"));
  progress_->show();
  cancel_->show();
}

void ModelDock::show_progress(double fraction, const QString& stage) {
  progress_->show();
  cancel_->show();
  progress_->setValue(static_cast<int>(std::clamp(fraction, 0.0, 1.0) * 1000));
  progress_->setFormat(QStringLiteral("%1 — %p%").arg(stage));
}

void ModelDock::show_error(const QString& message) {
  progress_->hide();
  cancel_->hide();
  error_->setText(message);
  error_->show();
  title_->setText(summary_ ? summary_->name : tr("No model"));
}

void ModelDock::show_summary(const ModelSummary& s) {
  summary_ = s;
  progress_->hide();
  cancel_->hide();
  error_->hide();
  title_->setText(QStringLiteral("<b>%1</b> (%2)").arg(s.name.toHtmlEscaped(), s.arch));
  title_->setToolTip(s.path);
  overview_->setText(
      tr("<table>"
         "<tr><td>File</td><td>%1 (%2)</td></tr>"
         "<tr><td>Layers</td><td>%3</td></tr>"
         "<tr><td>Embedding</td><td>%4 (heads %5, KV heads %6)</td></tr>"
         "<tr><td>Experts</td><td>%7 per layer, top-%8, FFN width %9</td></tr>"
         "<tr><td>Vocabulary</td><td>%10</td></tr>"
         "<tr><td>Training context</td><td>%11</td></tr>"
         "<tr><td>Dense weights</td><td>%12</td></tr>"
         "<tr><td>All experts</td><td>%13</td></tr>"
         "<tr><td>KV per token</td><td>%14</td></tr></table>")
          .arg(QFileInfo(s.path).fileName().toHtmlEscaped(), format_bytes(s.file_bytes))
          .arg(s.n_layer)
          .arg(s.n_embd)
          .arg(s.n_head)
          .arg(s.n_head_kv)
          .arg(s.n_expert)
          .arg(s.n_expert_used)
          .arg(s.n_ff_exp)
          .arg(s.n_vocab)
          .arg(s.n_ctx_train)
          .arg(format_bytes(s.dense_bytes), format_bytes(s.all_expert_bytes),
               format_bytes(s.kv_bytes_per_token)));

  metadata_->setSortingEnabled(false);
  metadata_->setRowCount(static_cast<int>(s.metadata.size()));
  for (size_t i = 0; i < s.metadata.size(); ++i) {
    metadata_->setItem(static_cast<int>(i), 0, cell(s.metadata[i].first));
    metadata_->setItem(static_cast<int>(i), 1, cell(s.metadata[i].second));
  }
  metadata_->setSortingEnabled(true);
  metadata_->resizeColumnToContents(0);

  tensors_->removeRows(0, tensors_->rowCount());
  for (const TensorRow& t : s.tensors) {
    auto* name = new QStandardItem(t.name);
    name->setData(t.name, Qt::UserRole);
    auto* type = new QStandardItem(t.type);
    type->setData(t.type, Qt::UserRole);
    auto* shape = new QStandardItem(t.shape);
    shape->setData(t.shape, Qt::UserRole);
    auto* expert = new QStandardItem(t.expert ? tr("yes") : QString());
    expert->setData(t.expert ? 1 : 0, Qt::UserRole);
    tensors_->appendRow({name, type, shape, number_item(t.bytes, format_bytes(t.bytes)), expert});
  }
  tensor_view_->resizeColumnToContents(0);

  const auto sizes = expert_sizes(s);
  experts_->setRowCount(static_cast<int>(sizes.size()));
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int r = static_cast<int>(i);
    experts_->setItem(r, 0, cell(QString::number(sizes[i].layer), true));
    experts_->setItem(r, 1, cell(format_bytes(sizes[i].bytes_per_expert), true));
    experts_->setItem(r, 2, cell(format_bytes(sizes[i].layer_bytes), true));
  }
  update_estimate();
}

void ModelDock::set_budget_percent(double percent) {
  budget_percent_ = percent;
  update_estimate();
}

void ModelDock::update_estimate() {
  if (!summary_) {
    estimate_label_->clear();
    return;
  }
  estimate_ = estimate_memory(*summary_, budget_percent_);
  const MemoryEstimate& e = estimate_;
  estimate_label_->setText(
      tr("<b>Memory estimate at %1% expert budget</b>"
         "<table>"
         "<tr><td>Dense weights</td><td align=right>%2</td></tr>"
         "<tr><td>Expert tier</td><td align=right>%3</td><td>of %4 (minimum %5)</td></tr>"
         "<tr><td>Scratch</td><td align=right>%6</td></tr>"
         "<tr><td>KV cache</td><td align=right>%7</td></tr>"
         "<tr><td>Maximum context</td><td align=right>%8 tokens</td>"
         "<td>(training context %9)</td></tr>"
         "<tr><td>Device total</td><td align=right>%10</td></tr></table>")
          .arg(budget_percent_, 0, 'f', 0)
          .arg(format_bytes(e.dense_bytes), format_bytes(e.expert_bytes),
               format_bytes(e.all_expert_bytes), format_bytes(e.min_expert_bytes),
               format_bytes(e.scratch_bytes), format_bytes(e.kv_bytes))
          .arg(e.max_context)
          .arg(summary_->n_ctx_train)
          .arg(format_bytes(e.device_bytes)));
}

QString ModelDock::estimate_text() const { return estimate_label_->text(); }

}  // namespace emoe::ui
