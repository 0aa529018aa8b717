// SPDX-License-Identifier: Apache-2.0
// hybridgate-bench: nanoseconds per operation of the protocol's hot paths (proto + qr).
//
//   hybridgate-bench            human table
//   hybridgate-bench --json     one JSON object on stdout
//   hybridgate-bench --quick    few iterations (the CTest smoke test); combinable with --json
//   hybridgate-bench --filter S only the benchmarks whose name contains S
//
// Each benchmark is calibrated so that one repetition lasts about --min-ms milliseconds
// (default 50, quick 2), then run for --reps repetitions (default 15, quick 3). Reported: the
// median, min and max of the per-repetition ns/op. Plain std::chrono::steady_clock; nothing is
// asserted about the figures.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/cbor.hpp"
#include "proto/crypter.hpp"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"
#include "proto/derive.hpp"
#include "proto/digits.hpp"
#include "proto/eid.hpp"
#include "proto/messages.hpp"
#include "proto/noise.hpp"
#include "proto/qr_payload.hpp"
#include "qr/render.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Keeps results alive so the optimiser cannot drop the measured work.
volatile uint64_t g_sink = 0;
void sink(uint64_t v) { g_sink = g_sink + v; }

struct Options {
  bool json = false;
  bool quick = false;
  int reps = 15;
  double min_ms = 50;
  std::string filter;
};

struct Result {
  std::string name;
  std::string what;
  uint64_t iterations = 0;  // per repetition
  int reps = 0;
  double median_ns = 0, min_ns = 0, max_ns = 0;
};

// Runs op() n times, returns elapsed nanoseconds.
double time_n(const std::function<void()>& op, uint64_t n) {
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < n; ++i) op();
  const auto t1 = Clock::now();
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
}

Result measure(const std::string& name, const std::string& what, const std::function<void()>& op, const Options& o) {
  op();  // warm-up (lazy initialisation, caches)
  // Calibrate: double n until one batch takes at least min_ms.
  uint64_t n = 1;
  const double target = o.min_ms * 1e6;
  while (true) {
    const double t = time_n(op, n);
    if (t >= target || n >= (uint64_t(1) << 30)) {
      if (t > 0 && t < target) n = uint64_t(double(n) * target / t) + 1;
      break;
    }
    n = t <= 0 ? n * 16 : std::max(n * 2, uint64_t(double(n) * target / t * 1.1) + 1);
  }
  std::vector<double> per_op;
  per_op.reserve(size_t(o.reps));
  for (int r = 0; r < o.reps; ++r) per_op.push_back(time_n(op, n) / double(n));
  std::sort(per_op.begin(), per_op.end());
  const size_t m = per_op.size();
  const double median = m % 2 ? per_op[m / 2] : (per_op[m / 2 - 1] + per_op[m / 2]) / 2;
  return Result{name, what, n, o.reps, median, per_op.front(), per_op.back()};
}

void die(const char* what) {
  std::fprintf(stderr, "hybridgate-bench: setup failed: %s\n", what);
  std::exit(2);
}

template <typename T>
T must(hg::Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "hybridgate-bench: %s: %s\n", what, r.error().to_string().c_str());
    std::exit(2);
  }
  return std::move(r).value();
}

struct Bench {
  std::string name;
  std::string what;
  std::function<void()> op;
};

// 168-digit QR code of vectors.json "qr_encode" (69 bytes of CBOR: all six keys).
constexpr std::string_view kQr168 =
    "507534658874902144890520810253271960412876791035912279736227586515506461231345404432309606571873100568115846226"
    "539407710061482532629175400265340480783106107096654083332";

std::vector<Bench> make_benches() {
  using namespace hg;
  std::vector<Bench> b;

  // ---- QR: generate a fresh identity + secret, write the URL, encode the QR matrix.
  b.push_back({"qr_generate_encode", "qr_payload::generate -> URL -> qr::encode matrix", [] {
                 qr_payload::GenerateOptions opts;
                 opts.supports_linking = true;
                 opts.timestamp = 1700000000;
                 auto q = qr_payload::generate(opts);
                 auto m = qr::encode(q.url);
                 if (!m) die("qr::encode");
                 sink(uint64_t(m->width));
               }});

  // ---- EID trial decryption: the desktop's check of every advert it hears.
  {
    auto secret = crypto::random_array<16>();
    auto key = std::make_shared<EidKey>(derive_eid_key(secret));
    auto other = std::make_shared<EidKey>(derive_eid_key(crypto::random_array<16>()));
    eid::Components c;
    c.routing_id = {9, 10, 11};
    c.domain_id = 0;
    auto advert = std::make_shared<eid::Advert>(eid::encrypt(eid::from_components(c), *key));
    if (!eid::decrypt(*advert, *key)) die("eid round trip");
    b.push_back({"eid_decrypt_match", "eid::decrypt of an advert made with the key", [key, advert] {
                   auto p = eid::decrypt(*advert, *key);
                   sink(p.ok() ? (*p)[11] : 0);
                 }});
    b.push_back({"eid_decrypt_nomatch", "eid::decrypt of another QR code's advert (tag mismatch)", [other, advert] {
                   auto p = eid::decrypt(*advert, *other);
                   sink(p.ok() ? 1 : 0);
                 }});
  }

  // ---- Noise KNpsk0: both sides of the QR-flow handshake, fresh ephemerals (as in real use).
  {
    auto identity = std::make_shared<crypto::P256Key>(crypto::P256Key::generate());
    Psk psk = crypto::random_array<32>();
    b.push_back({"noise_knpsk0_handshake", "write_message1 + respond + read_message2 (both sides)", [identity, psk] {
                   auto init = noise::Initiator::kn(*identity, psk);
                   const Bytes m1 = init.write_message1();
                   auto resp = must(noise::Responder::kn(identity->public_compressed(), psk), "Responder::kn");
                   auto out = must(resp.respond(m1), "respond");
                   auto keys = must(init.read_message2(out.message2), "read_message2");
                   sink(keys.handshake_hash[0]);
                 }});
  }

  // ---- Crypter: encrypt + decrypt of 1 KiB (pad, AES-256-GCM seal, open, unpad).
  {
    auto k1 = crypto::random_bytes(32), k2 = crypto::random_bytes(32);
    auto a = std::make_shared<Crypter>(SecretBytes(k1), SecretBytes(k2));
    auto z = std::make_shared<Crypter>(SecretBytes(k2), SecretBytes(k1));
    auto msg = std::make_shared<Bytes>(crypto::random_bytes(1024));
    b.push_back({"crypter_1k_roundtrip", "Crypter encrypt + decrypt of a 1 KiB message", [a, z, msg] {
                   // Stay far from the 2^24 message limit however long the run.
                   if (a->write_counter() > (1u << 23)) {
                     a->set_counters_for_testing(0, 0);
                     z->set_counters_for_testing(0, 0);
                   }
                   auto ct = must(a->encrypt(*msg), "encrypt");
                   auto pt = must(z->decrypt(ct), "decrypt");
                   sink(pt.size());
                 }});
  }

  // ---- CBOR: the post-handshake message {1: getInfo, 3: ["ctap"]} (vectors.json).
  {
    auto plain = std::make_shared<Bytes>(
        messages::encode_post_handshake(cbor::encode(cbor::Value(ctap::to_cbor(ctap::chrome_android_get_info())))));
    if (!cbor::decode(*plain)) die("post-handshake CBOR");
    b.push_back({"cbor_decode_post_handshake", "cbor::decode (canonical) of the post-handshake message", [plain] {
                   auto v = cbor::decode(*plain);
                   sink(v.ok() ? v->as_map().size() : 0);
                 }});
    b.push_back({"post_handshake_decode", "messages::decode_post_handshake (CBOR + field checks)", [plain] {
                   auto v = messages::decode_post_handshake(*plain);
                   sink(v.ok() ? uint64_t(v->revision) : 0);
                 }});
  }

  // ---- digits: decode of a 168-digit QR payload.
  b.push_back({"digits_decode_168", "digits::decode of a 168-digit QR payload (69 bytes)", [] {
                 auto v = digits::decode(kQr168);
                 sink(v.ok() ? v->size() : 0);
               }});
  return b;
}

void print_table(const std::vector<Result>& rs, const Options& o) {
  std::printf("hybridgate-bench: ns per operation, median of %d repetitions (min .. max)%s\n\n", o.reps,
              o.quick ? " [--quick: figures are rough]" : "");
  std::printf("%-28s %14s %14s %14s %12s  %s\n", "benchmark", "median ns/op", "min", "max", "iter/rep", "operation");
  for (const auto& r : rs)
    std::printf("%-28s %14.1f %14.1f %14.1f %12llu  %s\n", r.name.c_str(), r.median_ns, r.min_ns, r.max_ns,
                static_cast<unsigned long long>(r.iterations), r.what.c_str());
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

void print_json(const std::vector<Result>& rs, const Options& o) {
  std::printf("{\"unit\":\"ns/op\",\"quick\":%s,\"repetitions\":%d,\"min_ms_per_repetition\":%g,\"benchmarks\":[",
              o.quick ? "true" : "false", o.reps, o.min_ms);
  for (size_t i = 0; i < rs.size(); ++i) {
    const auto& r = rs[i];
    std::printf("%s\n  {\"name\":\"%s\",\"operation\":\"%s\",\"median_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
                "\"repetitions\":%d,\"iterations_per_repetition\":%llu}",
                i ? "," : "", json_escape(r.name).c_str(), json_escape(r.what).c_str(), r.median_ns, r.min_ns, r.max_ns,
                r.reps, static_cast<unsigned long long>(r.iterations));
  }
  std::printf("\n]}\n");
}

int usage(int rc) {
  std::fprintf(rc ? stderr : stdout,
               "usage: hybridgate-bench [--json] [--quick] [--reps N] [--min-ms MS] [--filter SUBSTRING]\n");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool reps_set = false, ms_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--json") {
      o.json = true;
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--reps" && i + 1 < argc) {
      o.reps = std::atoi(argv[++i]);
      reps_set = true;
    } else if (a == "--min-ms" && i + 1 < argc) {
      o.min_ms = std::atof(argv[++i]);
      ms_set = true;
    } else if (a == "--filter" && i + 1 < argc) {
      o.filter = argv[++i];
    } else if (a == "--help" || a == "-h") {
      return usage(0);
    } else {
      return usage(1);
    }
  }
  if (o.quick) {
    if (!reps_set) o.reps = 3;
    if (!ms_set) o.min_ms = 2;
  }
  if (o.reps < 1 || o.min_ms <= 0) return usage(1);

  std::vector<Result> results;
  for (const auto& b : make_benches()) {
    if (!o.filter.empty() && b.name.find(o.filter) == std::string::npos) continue;
    results.push_back(measure(b.name, b.what, b.op, o));
  }
  if (o.json)
    print_json(results, o);
  else
    print_table(results, o);
  return 0;
}
