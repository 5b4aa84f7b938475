// A Plot drawn into a region of a PDF page with the same layout as the SVG (plot_render.h).
#pragma once

#include "core/report/pdf_document.h"
#include "core/report/plot.h"

namespace emoe::report {

// Draws plot into the box whose top-left corner is (left, top) in PDF page coordinates
// (origin bottom-left, so top is the box's upper edge), width x height points.
void draw_plot_pdf(const Plot& plot, PdfContent& content, double left, double top, double width,
                   double height);

}  // namespace emoe::report
