// SPDX-License-Identifier: Apache-2.0
// The one CBOR wrapper of the project (over libcbor). Every CBOR byte we read or write goes
// through here: decoding is bounded (size, nesting, element counts checked against the bytes
// that remain before anything is allocated), type-checked, and in canonical mode rejects
// anything Chromium's strict reader would (non-minimal heads, unsorted or duplicate map keys,
// indefinite lengths, tags, floats, undefined, trailing bytes). Encoding always produces
// CTAP2-canonical CBOR: minimal integer and length heads, map keys sorted by major type, then
// encoded length, then bytewise (CTAP2 §8, Chromium's cbor::Value ordering).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "proto/bytes.hpp"

namespace hg::cbor {

class Value;
// A CBOR array (a class rather than an alias so that Type::Array does not shadow it).
struct Array : std::vector<Value> {
  using std::vector<Value>::vector;
};

// A map kept as (key, value) pairs. Encoding sorts by canonical key order; lookups are linear
// (protocol maps have a handful of keys).
class Map {
 public:
  Map() = default;
  Map(std::initializer_list<std::pair<Value, Value>> init);
  // Replaces an existing equal key.
  Map& set(Value key, Value value);
  const Value* find(const Value& key) const;
  const Value* find(uint64_t key) const;
  const Value* find(std::string_view key) const;
  // Defined after Value: clang instantiates the constexpr std::vector members at once, which
  // needs the complete Value type.
  size_t size() const;
  bool empty() const;
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  std::vector<std::pair<Value, Value>>& mutable_entries() { return entries_; }
  bool operator==(const Map& o) const;

 private:
  std::vector<std::pair<Value, Value>> entries_;
};

struct Null {
  bool operator==(const Null&) const = default;
};
// A negative integer -1 - n.
struct Negative {
  uint64_t n = 0;
  bool operator==(const Negative&) const = default;
};

// The type of a Value (in the variant's order). Also reachable as Value::Type.
enum class Type { Unsigned, Negative, Bytes, Text, Array, Map, Bool, Null };

class Value {
 public:
  using Type = cbor::Type;

  Value() : v_(Null{}) {}
  Value(uint64_t u) : v_(u) {}                                     // NOLINT
  Value(int i);                                                    // NOLINT
  Value(int64_t i);                                                // NOLINT
  Value(unsigned u) : v_(uint64_t(u)) {}                           // NOLINT
  Value(Negative n) : v_(n) {}                                     // NOLINT
  Value(Bytes b) : v_(std::move(b)) {}                             // NOLINT
  Value(ByteView b) : v_(Bytes(b.begin(), b.end())) {}             // NOLINT
  Value(std::string s) : v_(std::move(s)) {}                       // NOLINT
  Value(std::string_view s) : v_(std::string(s)) {}                // NOLINT
  Value(const char* s) : v_(std::string(s)) {}                     // NOLINT
  Value(Array a) : v_(std::move(a)) {}                             // NOLINT
  Value(Map m) : v_(std::move(m)) {}                               // NOLINT
  Value(bool b) : v_(b) {}                                         // NOLINT
  Value(Null n) : v_(n) {}                                         // NOLINT
  template <size_t N>
  Value(const std::array<uint8_t, N>& a) : v_(Bytes(a.begin(), a.end())) {}  // NOLINT

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_unsigned() const { return type() == Type::Unsigned; }
  bool is_negative() const { return type() == Type::Negative; }
  bool is_int() const { return is_unsigned() || is_negative(); }
  bool is_bytes() const { return type() == Type::Bytes; }
  bool is_text() const { return type() == Type::Text; }
  bool is_array() const { return type() == Type::Array; }
  bool is_map() const { return type() == Type::Map; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_null() const { return type() == Type::Null; }

  // Accessors: call only after checking the type (they throw std::bad_variant_access otherwise).
  uint64_t as_unsigned() const { return std::get<uint64_t>(v_); }
  const Bytes& as_bytes() const { return std::get<Bytes>(v_); }
  const std::string& as_text() const { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  const Map& as_map() const { return std::get<Map>(v_); }
  Map& as_map() { return std::get<Map>(v_); }
  bool as_bool() const { return std::get<bool>(v_); }
  const Negative& as_negative() const { return std::get<Negative>(v_); }
  // Integer as int64 if it fits.
  std::optional<int64_t> as_int64() const;

  bool operator==(const Value& o) const { return v_ == o.v_; }

 private:
  std::variant<uint64_t, Negative, Bytes, std::string, Array, Map, bool, Null> v_;
};

inline size_t Map::size() const { return entries_.size(); }
inline bool Map::empty() const { return entries_.empty(); }

struct DecodeOptions {
  size_t max_size = 1 << 20;  // bytes
  int max_depth = 16;         // Chromium's reader limit
  bool canonical = true;      // reject anything that is not CTAP2-canonical
  bool allow_trailing = false;
};

// Canonical CTAP2 encoding of a value.
Bytes encode(const Value& v);

// Decodes exactly one CBOR data item. Never aborts, never allocates more than O(input).
Result<Value> decode(ByteView data, const DecodeOptions& opts = {});
// Decodes one item from the front of data; `consumed` receives its length (trailing bytes allowed).
Result<Value> decode_prefix(ByteView data, size_t& consumed, const DecodeOptions& opts = {});

// Canonical key order: by major type, then encoded length, then bytewise.
bool canonical_less(const Value& a, const Value& b);

// Diagnostic notation (RFC 8949 §8), for debugging output and `hybridgate inspect`.
std::string diagnostic(const Value& v);

// Typed field access helpers for protocol maps.
Result<const Value*> require(const Map& m, uint64_t key, Value::Type t);
Result<const Value*> optional_field(const Map& m, uint64_t key, Value::Type t);  // nullptr if absent
Result<const Value*> require(const Map& m, std::string_view key, Value::Type t);
Result<const Value*> optional_field(const Map& m, std::string_view key, Value::Type t);

}  // namespace hg::cbor
