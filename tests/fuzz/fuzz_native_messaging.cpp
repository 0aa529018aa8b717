// SPDX-License-Identifier: Apache-2.0
// The browser bridge's native messaging framing (bridges/browser/host/messaging) on arbitrary
// bytes, as the host reads them from the browser on standard input: read_message until the end
// of input or an error. Oracles: every message read is a JSON object, at most kMaxIncoming long
// in its framed form; and what Writer frames reads back equal (a memfd stands for the pipe).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "bridges/browser/host/messaging.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {

// A file holding `bytes`, positioned at its start.
int file_with(const uint8_t* data, size_t size) {
  const int fd = memfd_create("fuzz", MFD_CLOEXEC);
  HG_FUZZ_CHECK(fd >= 0);
  size_t off = 0;
  while (off < size) {
    const ssize_t n = ::write(fd, data + off, size - off);
    HG_FUZZ_CHECK(n > 0);
    off += size_t(n);
  }
  HG_FUZZ_CHECK(::lseek(fd, 0, SEEK_SET) == 0);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = file_with(data, size);
  for (int i = 0; i < 64; ++i) {
    auto m = hg::bridge::read_message(fd);
    if (!m || !*m) break;
    HG_FUZZ_CHECK((*m)->is_object());
    // Round trip through the writer (messages the host would send back are objects too).
    const int out = memfd_create("fuzz-out", MFD_CLOEXEC);
    HG_FUZZ_CHECK(out >= 0);
    hg::bridge::Writer w(out);
    if (w.write(**m).ok()) {
      HG_FUZZ_CHECK(::lseek(out, 0, SEEK_SET) == 0);
      auto back = hg::bridge::read_message(out);
      HG_FUZZ_CHECK(back.ok() && back->has_value() && **back == **m);
    }
    ::close(out);
  }
  ::close(fd);
  return 0;
}
