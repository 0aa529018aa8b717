// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "qr/render.hpp"

namespace {
const std::string kUrl =
    "FIDO:/507534658874902144890520810253271960412876791035912279736227586515506461231345404432309606571873100568115846"
    "226539407710061482532629175400265340480783106107096654083332";

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  INFO(cmd << " exited " << rc);
  REQUIRE(rc == 0);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}
std::string tmp_path(const std::string& name) {
  const char* dir = std::getenv("HG_TEST_TMP");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}
}  // namespace

TEST_CASE("PNG output decodes with zbarimg to the identical URL") {
  auto m = hg::qr::encode(kUrl);
  REQUIRE(m.ok());
  auto png = hg::qr::to_png(*m, 4, 4);
  REQUIRE(png.ok());
  const std::string path = tmp_path("qr_render_test.png");
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(png->data()), std::streamsize(png->size()));
  }
  CHECK(run("zbarimg --nodbus --raw -q '" + path + "'") == kUrl);
}

TEST_CASE("the segmentation keeps the QR small") {
  auto m = hg::qr::encode(kUrl);
  REQUIRE(m.ok());
  // 6 alphanumeric + 168 numeric characters fit version 5 at level M (37 modules) at most.
  CHECK(m->width <= 37);
}

TEST_CASE("terminal text encodes every module") {
  auto m = hg::qr::encode(kUrl);
  REQUIRE(m.ok());
  for (bool light_on_dark : {true, false}) {
    auto text = hg::qr::to_terminal(*m, {.quiet_zone = 2, .light_on_dark = light_on_dark});
    // Decode the half blocks back into modules.
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      lines.push_back(text.substr(pos, nl - pos));
      pos = nl + 1;
    }
    const int n = m->width + 4;
    REQUIRE(int(lines.size()) == (n + 1) / 2);
    for (int row = 0; row < int(lines.size()); ++row) {
      const std::string& l = lines[size_t(row)];
      int x = 0;
      for (size_t i = 0; i < l.size(); ++x) {
        bool top, bottom;
        if (l[i] == ' ') {
          top = bottom = false;
          i += 1;
        } else {
          std::string ch = l.substr(i, 3);
          i += 3;
          top = ch == "\u2588" || ch == "\u2580";
          bottom = ch == "\u2588" || ch == "\u2584";
        }
        bool dark_top = m->at(x - 2, 2 * row - 2), dark_bottom = m->at(x - 2, 2 * row - 1);
        CHECK(top == (dark_top != light_on_dark));
        CHECK(bottom == (dark_bottom != light_on_dark));
      }
      CHECK(x == n);
    }
  }
}

TEST_CASE("SVG has one square per dark module") {
  auto m = hg::qr::encode(kUrl);
  REQUIRE(m.ok());
  auto svg = hg::qr::to_svg(*m);
  size_t squares = 0;
  for (size_t p = svg.find("h1v1h-1z"); p != std::string::npos; p = svg.find("h1v1h-1z", p + 1)) ++squares;
  size_t dark = 0;
  for (bool d : m->dark) dark += d;
  CHECK(squares == dark);
  CHECK(svg.find("<svg") != std::string::npos);
}

TEST_CASE("encode rejects empty and oversized text") {
  CHECK_FALSE(hg::qr::encode("").ok());
  CHECK_FALSE(hg::qr::encode(std::string(5000, '1')).ok());
}
