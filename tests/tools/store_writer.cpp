// SPDX-License-Identifier: Apache-2.0
// Test helper for the store tests (tests/integration/test_stores.py): adds passkeys to a
// credential store in a loop, through the same FileCredentialStore the phone uses, and prints
// "committed ID" after each addition reached the disk.
//
//   store_writer STORE add N TAG     add N credentials with IDs TAG-0 … TAG-(N-1)
#include <cstdlib>
#include <iostream>
#include <string>

#include "store/credential_store.hpp"
#include "proto/crypto.hpp"

using namespace hg;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: store_writer STORE add N TAG\n";
    return 2;
  }
  auto store = store::FileCredentialStore::open(argv[1]);
  if (!store) {
    std::cerr << store.error().to_string() << "\n";
    return 1;
  }
  const std::string mode = argv[2];
  if (mode == "add") {
    const int n = std::atoi(argv[3]);
    for (int i = 0; i < n; ++i) {
      const std::string id = std::string(argv[4]) + "-" + std::to_string(i);
      authenticator::CredentialRecord r;
      r.credential_id = Bytes(id.begin(), id.end());
      r.rp_id = "example.com";
      r.rp_name = "example.com";
      r.user_id = crypto::random_bytes(16);
      r.user_name = id;
      r.display_name = id;
      r.private_key = crypto::P256Key::generate().private_scalar();
      r.created = uint64_t(i + 1);
      r.discoverable = true;
      if (auto st = (*store)->add(r); !st) {
        std::cerr << st.error().to_string() << "\n";
        return 1;
      }
      std::cout << "committed " << id << std::endl;
    }
    return 0;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
