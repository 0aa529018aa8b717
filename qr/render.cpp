// SPDX-License-Identifier: Apache-2.0
#include "qr/render.hpp"

#include <png.h>
#include <qrencode.h>

#include <cerrno>
#include <csetjmp>
#include <cstring>
#include <memory>
#include <string>

namespace hg::qr {

Result<Matrix> encode(std::string_view text) {
  if (text.empty() || text.size() > 2048) return make_error(Errc::invalid_argument, "QR text must be 1 to 2048 characters");
  std::string s(text);
  QRcode* code = QRcode_encodeString(s.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (!code) return make_error(Errc::invalid_argument, std::string("libqrencode failed: ") + std::strerror(errno));
  Matrix m;
  m.width = code->width;
  m.dark.resize(size_t(code->width) * size_t(code->width));
  for (size_t i = 0; i < m.dark.size(); ++i) m.dark[i] = (code->data[i] & 1) != 0;
  QRcode_free(code);
  return m;
}

std::string to_terminal(const Matrix& m, TerminalOptions opts) {
  const int q = opts.quiet_zone;
  const int n = m.width + 2 * q;
  // A module is "drawn" (a block character) when it is light (light_on_dark) or dark.
  auto drawn = [&](int x, int y) { return m.at(x - q, y - q) != opts.light_on_dark; };
  std::string out;
  for (int y = 0; y < n; y += 2) {
    for (int x = 0; x < n; ++x) {
      bool top = drawn(x, y);
      bool bottom = drawn(x, y + 1);  // past the last row: quiet zone
      if (top && bottom)
        out += "\u2588";
      else if (top)
        out += "\u2580";
      else if (bottom)
        out += "\u2584";
      else
        out += " ";
    }
    out += "\n";
  }
  return out;
}

namespace {
struct PngWriter {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWriter() { png_destroy_write_struct(&png, &info); }
};
void png_append(png_structp png, png_bytep data, png_size_t len) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + len);
}
void png_noop_flush(png_structp) {}
}  // namespace

Result<Bytes> to_png(const Matrix& m, int scale, int margin) {
  if (scale < 1 || scale > 64 || margin < 0 || margin > 64 || m.width <= 0)
    return make_error(Errc::invalid_argument, "PNG scale must be 1..64 and margin 0..64");
  const int px = (m.width + 2 * margin) * scale;
  Bytes out;
  PngWriter w;
  w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!w.png) return make_error(Errc::internal, "png_create_write_struct");
  w.info = png_create_info_struct(w.png);
  if (!w.info) return make_error(Errc::internal, "png_create_info_struct");
  std::vector<png_byte> row(static_cast<size_t>(px));
  if (setjmp(png_jmpbuf(w.png))) return make_error(Errc::internal, "libpng failed");
  png_set_write_fn(w.png, &out, png_append, png_noop_flush);
  png_set_IHDR(w.png, w.info, png_uint_32(px), png_uint_32(px), 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(w.png, w.info);
  for (int y = 0; y < px; ++y) {
    for (int x = 0; x < px; ++x) row[size_t(x)] = m.at(x / scale - margin, y / scale - margin) ? 0 : 255;
    png_write_row(w.png, row.data());
  }
  png_write_end(w.png, nullptr);
  return out;
}

std::string to_svg(const Matrix& m, int margin) {
  const int n = m.width + 2 * margin;
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                  std::to_string(n) + " " + std::to_string(n) +
                  "\" shape-rendering=\"crispEdges\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"";
  for (int y = 0; y < m.width; ++y)
    for (int x = 0; x < m.width; ++x)
      if (m.at(x, y)) s += "M" + std::to_string(x + margin) + " " + std::to_string(y + margin) + "h1v1h-1z";
  s += "\"/>\n</svg>\n";
  return s;
}

}  // namespace hg::qr
