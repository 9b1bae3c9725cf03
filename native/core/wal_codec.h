// Encoding and decoding of the bytes wal_format.h specifies: segment headers, record headers,
// segment file names and store ids. Pure functions over memory, shared by the writer and the
// recovery scan, so every path agrees on every byte. Thread-safe.
#ifndef TAPIO_CORE_WAL_CODEC_H_
#define TAPIO_CORE_WAL_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/status.h"
#include "core/wal_format.h"

namespace tapio {
namespace wal {

struct StoreId {
  uint8_t bytes[kStoreIdSize] = {};
  bool operator==(const StoreId& o) const { return std::memcmp(bytes, o.bytes, kStoreIdSize) == 0; }
  bool operator!=(const StoreId& o) const { return !(*this == o); }
};

// 32 lowercase hex digits.
std::string StoreIdToHex(const StoreId& id);
// Accepts exactly 32 hex digits (either case).
bool StoreIdFromHex(const std::string& hex, StoreId* out);
// 16 random bytes from the operating system.
Status NewStoreId(StoreId* out);

struct SegmentHeader {
  uint64_t number = 0;
  uint64_t first_seq = 0;
  StoreId store_id;
  uint64_t created_ms = 0;
  uint32_t segment_size = 0;
};

// Writes the kSegmentHeaderUsed bytes of a header (CRC included) to `out`.
void EncodeSegmentHeader(const SegmentHeader& header, uint8_t* out);

// Checks the header in `in`, of which `available` bytes exist (the file may be shorter than a
// header), in this order: length, magic, version, CRC, length in use, numbers in range, segment
// size. The version comes before the CRC because another version may lay its CRC out
// differently. The reason is the one the TypeScript twin gives (kHeaderIncomplete, kBadMagic,
// kFormatVersion, kHeaderChecksum, ...) with its details; callers add the file and offset. Does
// not check the number against the file name or the store id.
Status CheckSegmentHeader(const uint8_t* in, size_t available, SegmentHeader* out);

// CheckSegmentHeader over kSegmentHeaderUsed bytes, with the detail "file" on failure.
Status DecodeSegmentHeader(const uint8_t* in, const std::string& file, SegmentHeader* out);

// CRC32C of bytes 4..16 of a record header followed by the payload.
uint32_t RecordCrc(const uint8_t* header, const uint8_t* payload, uint32_t length);

// Writes the kRecordHeaderSize bytes of the header of record `seq` with this payload.
void EncodeRecordHeader(uint64_t seq, const uint8_t* payload, uint32_t length, uint8_t* out);

// "0000000000000001.wal" for segment 1.
std::string SegmentFileName(uint64_t number);
// True for exactly 16 lowercase hex digits followed by ".wal"; sets *number.
bool ParseSegmentFileName(const std::string& name, uint64_t* number);

inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
inline uint64_t LoadLe64(const uint8_t* p) {
  return static_cast<uint64_t>(LoadLe32(p)) | static_cast<uint64_t>(LoadLe32(p + 4)) << 32;
}
inline void StoreLe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}
inline void StoreLe64(uint8_t* p, uint64_t v) {
  StoreLe32(p, static_cast<uint32_t>(v));
  StoreLe32(p + 4, static_cast<uint32_t>(v >> 32));
}

}  // namespace wal
}  // namespace tapio

#endif  // TAPIO_CORE_WAL_CODEC_H_
