// SPDX-License-Identifier: Apache-2.0
// Rendering of a FIDO:/ URL as a QR code (libqrencode): terminal text, PNG and SVG.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proto/bytes.hpp"

namespace hg::qr {

struct Matrix {
  int width = 0;
  std::vector<bool> dark;  // row-major, width * width
  bool at(int x, int y) const {
    return x >= 0 && y >= 0 && x < width && y < width && dark[size_t(y) * size_t(width) + size_t(x)];
  }
};

// Encodes text with automatic segmentation (alphanumeric "FIDO:/" + numeric digits), level M.
Result<Matrix> encode(std::string_view text);

struct TerminalOptions {
  int quiet_zone = 2;  // modules
  // true (default): draw light modules as blocks, for the usual light-on-dark terminal.
  bool light_on_dark = true;
};
// UTF-8 half blocks, two module rows per text line.
std::string to_terminal(const Matrix& m, TerminalOptions opts = {});

// 8-bit grayscale PNG, `scale` pixels per module, `margin` modules of quiet zone.
Result<Bytes> to_png(const Matrix& m, int scale = 8, int margin = 4);

// A standalone SVG document (one path of unit squares), `margin` modules of quiet zone.
std::string to_svg(const Matrix& m, int margin = 4);

}  // namespace hg::qr
