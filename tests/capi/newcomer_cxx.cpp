// SPDX-License-Identifier: Apache-2.0
// newcomer_cxx.cpp - the C++ façade (include/hybridgate/hybridgate.hpp, C++17) used from its header
// alone: registers and signs in against a relay (its phone on a thread, loopback radio), then a
// refusal on the phone arrives as hybridgate::Error with HG_E_CTAP_OPERATION_DENIED, and a callback
// that throws cancels the ceremony and its exception comes back out of get().
//
//   newcomer_cxx RELAY_URL WORKDIR
#include <cstdio>
#include <cstring>
#include <hybridgate/hybridgate.hpp>
#include <memory>
#include <string>
#include <thread>

namespace {

int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "newcomer_cxx: FAILED: %s\n", what);
    ++failures;
  }
}

std::string b64url(const hybridgate::Bytes& b) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < b.size(); i += 3) {
    const uint32_t v = uint32_t(b[i]) << 16 | uint32_t(b[i + 1]) << 8 | b[i + 2];
    for (int s : {18, 12, 6, 0}) out += abc[v >> s & 63];
  }
  if (b.size() - i == 1) {
    const uint32_t v = uint32_t(b[i]) << 16;
    for (int s : {18, 12}) out += abc[v >> s & 63];
  } else if (b.size() - i == 2) {
    const uint32_t v = uint32_t(b[i]) << 16 | uint32_t(b[i + 1]) << 8;
    for (int s : {18, 12, 6}) out += abc[v >> s & 63];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: newcomer_cxx RELAY_URL WORKDIR\n");
    return 2;
  }
  const std::string relay = argv[1], store = std::string(argv[2]) + "/newcomer-cxx-phone.json";
  bool approve = true;
  std::thread phone_thread;
  try {
    hybridgate::Desktop desktop(hybridgate::Config::desktop().load().radio("loopback").tunnel_url(relay));
    desktop.on_qr([&](std::string_view url) {
      phone_thread = std::thread([&, url = std::string(url)] {
        try {
          hybridgate::Phone phone(hybridgate::Config::phone().radio("loopback").tunnel_url(relay), store);
          phone.on_presence([&](std::string_view, std::string_view, std::string_view) { return approve; });
          phone.serve_qr(url);
        } catch (const hybridgate::Error& e) {
          std::fprintf(stderr, "newcomer_cxx: phone: %s [%s]\n", e.what(), e.name().c_str());
        }
      });
    });
    auto join = [&] {
      if (phone_thread.joinable()) phone_thread.join();
    };

    hybridgate::Credential reg;
    try {
      reg = desktop.create(R"({"rp":{"id":"example.com","name":"Example"},)"
                           R"("user":{"id":"Y3h4","name":"cxx","displayName":"C++"},)"
                           R"("challenge":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",)"
                           R"("pubKeyCredParams":[{"type":"public-key","alg":-7}],)"
                           R"("authenticatorSelection":{"residentKey":"required"}})",
                           "https://example.com");
    } catch (...) {
      join();
      throw;
    }
    join();
    check(reg.is_create && reg.id.size() >= 16, "registration");
    const std::string get = R"({"rpId":"example.com","challenge":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8",)"
                            R"("allowCredentials":[{"type":"public-key","id":")" + b64url(reg.id) + R"("}]})";
    hybridgate::Credential sign;
    try {
      sign = desktop.get(get, "https://example.com");
    } catch (...) {
      join();
      throw;
    }
    join();
    check(!sign.is_create && sign.id == reg.id, "signed in with the registered credential");
    check(sign.user_handle == hybridgate::Bytes{'c', 'x', 'x'}, "the user handle");
    check(sign.sign_count > reg.sign_count, "the counter rose");

    approve = false;
    try {
      desktop.get(get, "https://example.com");
      check(false, "a refused sign-in succeeded");
    } catch (const hybridgate::Error& e) {
      check(e.code() == HG_E_CTAP_OPERATION_DENIED && e.name() == "ctap.operation_denied", "the refusal's code");
    }
    join();

    // A callback that throws: the ceremony is cancelled and get() rethrows that exception.
    desktop.on_qr([](std::string_view) { throw std::runtime_error("the application's own failure"); });
    try {
      desktop.get(get, "https://example.com");
      check(false, "a ceremony whose QR callback threw succeeded");
    } catch (const std::runtime_error& e) {
      check(std::strcmp(e.what(), "the application's own failure") == 0, "the callback's exception comes back");
    }
  } catch (const hybridgate::Error& e) {
    std::fprintf(stderr, "newcomer_cxx: %s [%s]\n", e.what(), e.name().c_str());
    if (phone_thread.joinable()) phone_thread.join();
    return 1;
  }
  std::printf("%s\n", failures ? "FAILED" : "all checks held");
  return failures ? 1 : 0;
}
