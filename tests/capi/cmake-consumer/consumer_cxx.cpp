// SPDX-License-Identifier: Apache-2.0
// The C++ API from an install prefix: <hybridgate/hybridgate.hpp>, the header-only façade over
// libhybridgate (hybridgate::hybridgate). One desktop ceremony, the same command line and output as
// ../consumer.c's create/get (blocking); it sees nothing but the installed headers.
#include <hybridgate/hybridgate.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

std::string arg(int argc, char** argv, const std::string& name) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return {};
}

// A JSON string literal (the error's code and sentence).
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::string(argv[1]) != "create" && std::string(argv[1]) != "get")) {
    std::cerr << "usage: consumer_cxx create|get --tunnel-url URL --origin O --options FILE --qr-file FILE\n";
    return 2;
  }
  const bool create = std::string(argv[1]) == "create";
  std::ifstream in(arg(argc, argv, "--options"));
  std::stringstream options;
  options << in.rdbuf();
  const std::string qr_file = arg(argc, argv, "--qr-file");
  try {
    hybridgate::Config config = hybridgate::Config::desktop();
    config.radio("loopback").tunnel_url(arg(argc, argv, "--tunnel-url"));
    hybridgate::Desktop desktop(config);
    desktop.on_qr([&](std::string_view url) {
      std::ofstream(qr_file + ".tmp") << url;
      std::filesystem::rename(qr_file + ".tmp", qr_file);
    });
    desktop.on_stage([](std::string_view stage, std::string_view) { std::cerr << "stage " << stage << "\n"; });
    const std::string origin = arg(argc, argv, "--origin");
    hybridgate::Credential c = create ? desktop.create(options.str(), origin) : desktop.get(options.str(), origin);
    std::cout << c.json << "\n";
    return 0;
  } catch (const hybridgate::Error& e) {
    std::cout << "{\"error\": {\"code\": " << quoted(e.name()) << ", \"message\": " << quoted(e.what()) << "}}\n";
    return 1;
  }
}
