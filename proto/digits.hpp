// SPDX-License-Identifier: Apache-2.0
// The QR code's "base-10" encoding (docs/protocol.md §2.2): 7-byte little-endian chunks written as
// zero-padded 17-digit decimal numbers; a final partial chunk of n bytes uses W(n) digits.
#pragma once

#include <string>
#include <string_view>

#include "proto/bytes.hpp"

namespace hg::digits {

std::string encode(ByteView bytes);
// Rejects non-digits (digits.non_digit), impossible lengths (digits.length) and chunk values
// that do not fit their byte count (digits.range).
Result<Bytes> decode(std::string_view digits);

}  // namespace hg::digits
