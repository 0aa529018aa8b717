// SPDX-License-Identifier: Apache-2.0
#include "proto/cbor.hpp"

#include <cbor.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace hg::cbor {

// ---------------------------------------------------------------- Map / Value

Map::Map(std::initializer_list<std::pair<Value, Value>> init) {
  for (const auto& kv : init) set(kv.first, kv.second);
}

Map& Map::set(Value key, Value value) {
  for (auto& kv : entries_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return *this;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
  return *this;
}

const Value* Map::find(const Value& key) const {
  for (const auto& kv : entries_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}
const Value* Map::find(uint64_t key) const { return find(Value(key)); }
const Value* Map::find(std::string_view key) const { return find(Value(key)); }

bool Map::operator==(const Map& o) const {
  if (size() != o.size()) return false;
  for (const auto& kv : entries_) {
    const Value* v = o.find(kv.first);
    if (!v || !(*v == kv.second)) return false;
  }
  return true;
}

Value::Value(int i) : Value(int64_t{i}) {}
Value::Value(int64_t i) {
  if (i >= 0)
    v_ = uint64_t(i);
  else
    v_ = Negative{uint64_t(-(i + 1))};
}

std::optional<int64_t> Value::as_int64() const {
  if (is_unsigned()) {
    if (as_unsigned() > uint64_t(INT64_MAX)) return std::nullopt;
    return int64_t(as_unsigned());
  }
  if (is_negative()) {
    if (as_negative().n > uint64_t(INT64_MAX)) return std::nullopt;
    return -1 - int64_t(as_negative().n);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- encoding

namespace {

// CTAP2 canonical key order (CTAP2 §8, as Chromium's cbor::Value::Less): by major type, then
// by encoded length, then bytewise.
bool canonical_key_less(const Bytes& a, const Bytes& b) {
  const int ma = a.empty() ? -1 : a[0] >> 5, mb = b.empty() ? -1 : b[0] >> 5;
  if (ma != mb) return ma < mb;
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

struct ItemRef {
  cbor_item_t* p = nullptr;
  explicit ItemRef(cbor_item_t* i) : p(i) {}
  ItemRef(const ItemRef&) = delete;
  ItemRef& operator=(const ItemRef&) = delete;
  ~ItemRef() {
    if (p) cbor_decref(&p);
  }
  cbor_item_t* release() {
    cbor_item_t* r = p;
    p = nullptr;
    return r;
  }
};

[[noreturn]] void oom() { throw std::bad_alloc(); }

cbor_item_t* check(cbor_item_t* i) {
  if (!i) oom();
  return i;
}

cbor_item_t* build_uint(uint64_t u) {
  if (u <= 0xff) return check(cbor_build_uint8(uint8_t(u)));
  if (u <= 0xffff) return check(cbor_build_uint16(uint16_t(u)));
  if (u <= 0xffffffffu) return check(cbor_build_uint32(uint32_t(u)));
  return check(cbor_build_uint64(u));
}

cbor_item_t* build_negint(uint64_t n) {
  if (n <= 0xff) return check(cbor_build_negint8(uint8_t(n)));
  if (n <= 0xffff) return check(cbor_build_negint16(uint16_t(n)));
  if (n <= 0xffffffffu) return check(cbor_build_negint32(uint32_t(n)));
  return check(cbor_build_negint64(n));
}

Bytes serialize(const cbor_item_t* item) {
  unsigned char* buf = nullptr;
  size_t cap = 0;
  size_t len = cbor_serialize_alloc(item, &buf, &cap);
  if (len == 0 || !buf) {
    free(buf);
    oom();
  }
  Bytes out(buf, buf + len);
  free(buf);
  return out;
}

cbor_item_t* build(const Value& v);

cbor_item_t* build_map(const Map& m) {
  // Sort the entries by the canonical encoding of their keys. Each key is built once: its
  // serialisation gives the order and the same item goes into the map. (Encoding a key for the
  // sort and then building it again doubled the work at every level of maps used as map keys,
  // O(2^depth): a 33-byte input took ~50 ms to decode, found by tests/fuzz/fuzz_cbor.)
  struct Keyed {
    Bytes enc;
    std::unique_ptr<ItemRef> key;
    const Value* value;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(m.size());
  for (const auto& kv : m.entries()) {
    auto key = std::make_unique<ItemRef>(build(kv.first));
    Bytes enc = serialize(key->p);
    keyed.push_back(Keyed{std::move(enc), std::move(key), &kv.second});
  }
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) { return canonical_key_less(a.enc, b.enc); });
  ItemRef map(check(cbor_new_definite_map(m.size())));
  for (const auto& e : keyed) {
    ItemRef val(build(*e.value));
    if (!cbor_map_add(map.p, cbor_pair{e.key->p, val.p})) oom();
  }
  return map.release();
}

cbor_item_t* build(const Value& v) {
  switch (v.type()) {
    case Value::Type::Unsigned:
      return build_uint(v.as_unsigned());
    case Value::Type::Negative:
      return build_negint(v.as_negative().n);
    case Value::Type::Bytes: {
      const Bytes& b = v.as_bytes();
      static const unsigned char empty = 0;
      return check(cbor_build_bytestring(b.empty() ? &empty : b.data(), b.size()));
    }
    case Value::Type::Text: {
      const std::string& s = v.as_text();
      return check(cbor_build_stringn(s.data(), s.size()));
    }
    case Value::Type::Array: {
      const Array& a = v.as_array();
      ItemRef arr(check(cbor_new_definite_array(a.size())));
      for (const auto& e : a) {
        ItemRef item(build(e));
        if (!cbor_array_push(arr.p, item.p)) oom();
      }
      return arr.release();
    }
    case Value::Type::Map:
      return build_map(v.as_map());
    case Value::Type::Bool:
      return check(cbor_build_bool(v.as_bool()));
    case Value::Type::Null:
      return check(cbor_new_null());
  }
  oom();
}

}  // namespace

Bytes encode(const Value& v) {
  ItemRef item(build(v));
  return serialize(item.p);
}

bool canonical_less(const Value& a, const Value& b) { return canonical_key_less(encode(a), encode(b)); }

// ---------------------------------------------------------------- decoding

namespace {

bool valid_utf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

struct Frame {
  Value container;
  uint64_t expected = 0;  // number of child items (2n for maps)
  uint64_t seen = 0;
  bool is_map = false;
  std::optional<Value> pending_key;
};

struct Builder {
  const DecodeOptions* opts = nullptr;
  size_t remaining = 0;  // bytes left in the input at the current callback
  std::vector<Frame> stack;
  std::optional<Value> root;
  bool failed = false;
  Error err;

  void fail(Errc c, std::string d) {
    if (!failed) {
      failed = true;
      err = make_error(c, std::move(d));
    }
  }

  Status finish_map(Map& m) {
    std::vector<Bytes> keys;
    keys.reserve(m.size());
    for (const auto& kv : m.entries()) keys.push_back(encode(kv.first));
    auto less = canonical_key_less;
    if (opts->canonical) {
      for (size_t i = 1; i < keys.size(); ++i)
        if (!less(keys[i - 1], keys[i]))
          return make_error(Errc::cbor_not_canonical, keys[i - 1] == keys[i] ? "duplicate map key" : "map keys out of order");
    } else {
      std::sort(keys.begin(), keys.end(), less);
      for (size_t i = 1; i < keys.size(); ++i)
        if (keys[i - 1] == keys[i]) return make_error(Errc::cbor_malformed, "duplicate map key");
    }
    return ok_status();
  }

  void emit(Value v) {
    if (failed) return;
    while (true) {
      if (stack.empty()) {
        root = std::move(v);
        return;
      }
      Frame& f = stack.back();
      if (f.is_map) {
        if (!f.pending_key) {
          f.pending_key = std::move(v);
        } else {
          f.container.as_map().mutable_entries().emplace_back(std::move(*f.pending_key), std::move(v));
          f.pending_key.reset();
        }
      } else {
        f.container.as_array().push_back(std::move(v));
      }
      if (++f.seen < f.expected) return;
      if (f.is_map) {
        auto st = finish_map(f.container.as_map());
        if (!st) {
          fail(st.error().code, st.error().detail);
          return;
        }
      }
      v = std::move(f.container);
      stack.pop_back();
    }
  }

  void start(bool is_map, uint64_t n) {
    if (failed) return;
    uint64_t children = is_map ? 2 * n : n;
    if ((is_map && n > remaining / 2) || children > remaining) {
      fail(Errc::cbor_malformed, "container declares more items than bytes remain");
      return;
    }
    if (int(stack.size()) + 1 > opts->max_depth) {
      fail(Errc::cbor_too_large, "nesting deeper than allowed");
      return;
    }
    Value c = is_map ? Value(Map{}) : Value(Array{});
    if (children == 0) {
      emit(std::move(c));
      return;
    }
    stack.push_back(Frame{std::move(c), children, 0, is_map, std::nullopt});
  }
};

Builder* B(void* ctx) { return static_cast<Builder*>(ctx); }

void on_u8(void* c, uint8_t v) { B(c)->emit(Value(uint64_t{v})); }
void on_u16(void* c, uint16_t v) { B(c)->emit(Value(uint64_t{v})); }
void on_u32(void* c, uint32_t v) { B(c)->emit(Value(uint64_t{v})); }
void on_u64(void* c, uint64_t v) { B(c)->emit(Value(v)); }
void on_n8(void* c, uint8_t v) { B(c)->emit(Value(Negative{v})); }
void on_n16(void* c, uint16_t v) { B(c)->emit(Value(Negative{v})); }
void on_n32(void* c, uint32_t v) { B(c)->emit(Value(Negative{v})); }
void on_n64(void* c, uint64_t v) { B(c)->emit(Value(Negative{v})); }
void on_bytes(void* c, cbor_data d, size_t n) { B(c)->emit(Value(Bytes(d, d + n))); }
void on_text(void* c, cbor_data d, size_t n) {
  if (!valid_utf8(d, n)) {
    B(c)->fail(Errc::cbor_malformed, "text string is not valid UTF-8");
    return;
  }
  B(c)->emit(Value(std::string(reinterpret_cast<const char*>(d), n)));
}
void on_array(void* c, size_t n) { B(c)->start(false, n); }
void on_map(void* c, size_t n) { B(c)->start(true, n); }
void on_indef(void* c) { B(c)->fail(Errc::cbor_unsupported, "indefinite-length item"); }
void on_tag(void* c, uint64_t) { B(c)->fail(Errc::cbor_unsupported, "tag"); }
void on_f(void* c, float) { B(c)->fail(Errc::cbor_unsupported, "floating-point value"); }
void on_d(void* c, double) { B(c)->fail(Errc::cbor_unsupported, "floating-point value"); }
void on_undef(void* c) { B(c)->fail(Errc::cbor_unsupported, "undefined"); }
void on_null(void* c) { B(c)->emit(Value(Null{})); }
void on_bool(void* c, bool b) { B(c)->emit(Value(b)); }

const cbor_callbacks& callbacks() {
  static const cbor_callbacks cb = [] {
    cbor_callbacks k = cbor_empty_callbacks;
    k.uint8 = on_u8;
    k.uint16 = on_u16;
    k.uint32 = on_u32;
    k.uint64 = on_u64;
    k.negint8 = on_n8;
    k.negint16 = on_n16;
    k.negint32 = on_n32;
    k.negint64 = on_n64;
    k.byte_string = on_bytes;
    k.byte_string_start = on_indef;
    k.string = on_text;
    k.string_start = on_indef;
    k.array_start = on_array;
    k.indef_array_start = on_indef;
    k.map_start = on_map;
    k.indef_map_start = on_indef;
    k.tag = on_tag;
    k.float2 = on_f;
    k.float4 = on_f;
    k.float8 = on_d;
    k.undefined = on_undef;
    k.null = on_null;
    k.boolean = on_bool;
    k.indef_break = on_indef;
    return k;
  }();
  return cb;
}

}  // namespace

Result<Value> decode_prefix(ByteView data, size_t& consumed, const DecodeOptions& opts) {
  consumed = 0;
  if (data.empty()) return make_error(Errc::cbor_malformed, "empty input");
  if (data.size() > opts.max_size) return make_error(Errc::cbor_too_large, "input larger than allowed");
  Builder b;
  b.opts = &opts;
  size_t off = 0;
  while (!b.root) {
    if (off >= data.size()) return make_error(Errc::cbor_malformed, "truncated");
    b.remaining = data.size() - off;
    cbor_decoder_result r = cbor_stream_decode(data.data() + off, data.size() - off, &callbacks(), &b);
    if (b.failed) return b.err;
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
      return make_error(Errc::cbor_malformed, r.status == CBOR_DECODER_NEDATA ? "truncated" : "malformed");
    off += r.read;
  }
  if (b.failed) return b.err;
  consumed = off;
  if (opts.canonical) {
    Bytes again = encode(*b.root);
    if (again.size() != off || !std::equal(again.begin(), again.end(), data.begin()))
      return make_error(Errc::cbor_not_canonical, "non-minimal encoding");
  }
  return std::move(*b.root);
}

Result<Value> decode(ByteView data, const DecodeOptions& opts) {
  size_t consumed = 0;
  auto v = decode_prefix(data, consumed, opts);
  if (!v) return v;
  if (consumed != data.size() && !opts.allow_trailing) return make_error(Errc::cbor_malformed, "trailing bytes");
  return v;
}

// ---------------------------------------------------------------- diagnostic notation

std::string diagnostic(const Value& v) {
  switch (v.type()) {
    case Value::Type::Unsigned:
      return std::to_string(v.as_unsigned());
    case Value::Type::Negative: {
      const uint64_t n = v.as_negative().n;
      if (n == UINT64_MAX) return "-18446744073709551616";
      return "-" + std::to_string(n + 1);
    }
    case Value::Type::Bytes:
      return "h'" + hex_encode(v.as_bytes()) + "'";
    case Value::Type::Text: {
      std::string s = "\"";
      for (char c : v.as_text()) {
        if (c == '"' || c == '\\') s.push_back('\\');
        s.push_back(c);
      }
      return s + "\"";
    }
    case Value::Type::Array: {
      std::string s = "[";
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) s += ", ";
        first = false;
        s += diagnostic(e);
      }
      return s + "]";
    }
    case Value::Type::Map: {
      std::string s = "{";
      bool first = true;
      for (const auto& [k, val] : v.as_map().entries()) {
        if (!first) s += ", ";
        first = false;
        s += diagnostic(k) + ": " + diagnostic(val);
      }
      return s + "}";
    }
    case Value::Type::Bool:
      return v.as_bool() ? "true" : "false";
    case Value::Type::Null:
      return "null";
  }
  return "?";
}

// ---------------------------------------------------------------- field helpers

namespace {
const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::Unsigned: return "unsigned integer";
    case Value::Type::Negative: return "negative integer";
    case Value::Type::Bytes: return "byte string";
    case Value::Type::Text: return "text string";
    case Value::Type::Array: return "array";
    case Value::Type::Map: return "map";
    case Value::Type::Bool: return "bool";
    case Value::Type::Null: return "null";
  }
  return "?";
}
template <typename K>
Result<const Value*> field(const Map& m, const K& key, Value::Type t, bool required, const std::string& name) {
  const Value* v = m.find(key);
  if (!v) {
    if (required) return make_error(Errc::cbor_type, "missing key " + name);
    return static_cast<const Value*>(nullptr);
  }
  if (v->type() != t) return make_error(Errc::cbor_type, "key " + name + " must be a " + type_name(t));
  return v;
}
}  // namespace

Result<const Value*> require(const Map& m, uint64_t key, Value::Type t) {
  return field(m, key, t, true, std::to_string(key));
}
Result<const Value*> optional_field(const Map& m, uint64_t key, Value::Type t) {
  return field(m, key, t, false, std::to_string(key));
}
Result<const Value*> require(const Map& m, std::string_view key, Value::Type t) {
  return field(m, key, t, true, "\"" + std::string(key) + "\"");
}
Result<const Value*> optional_field(const Map& m, std::string_view key, Value::Type t) {
  return field(m, key, t, false, "\"" + std::string(key) + "\"");
}

}  // namespace hg::cbor
