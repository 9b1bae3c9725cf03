#include "core/wal_codec.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#if defined(__linux__)
#include <sys/random.h>
#endif

#include "core/crc32c.h"

namespace tapio {
namespace wal {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const char kHexDigits[] = "0123456789abcdef";

bool FillRandom(uint8_t* out, size_t n) {
#if defined(__APPLE__)
  arc4random_buf(out, n);
  return true;
#else
#if defined(__linux__)
  size_t got = 0;
  while (got < n) {
    const ssize_t r = getrandom(out + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;  // ENOSYS on old kernels: fall through to /dev/urandom
    }
    got += static_cast<size_t>(r);
  }
  if (got == n) return true;
#endif
  const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < n) {
    const ssize_t r = read(fd, out + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  close(fd);
  return done == n;
#endif
}

}  // namespace

std::string StoreIdToHex(const StoreId& id) {
  std::string out(kStoreIdSize * 2, '0');
  for (size_t i = 0; i < kStoreIdSize; i++) {
    out[2 * i] = kHexDigits[id.bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[id.bytes[i] & 15];
  }
  return out;
}

bool StoreIdFromHex(const std::string& hex, StoreId* out) {
  if (hex.size() != kStoreIdSize * 2) return false;
  for (size_t i = 0; i < kStoreIdSize; i++) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

Status NewStoreId(StoreId* out) {
  if (!FillRandom(out->bytes, kStoreIdSize)) return Status(Reason::kRandomFailed);
  return Status::Ok();
}

void EncodeSegmentHeader(const SegmentHeader& h, uint8_t* out) {
  std::memset(out, 0, kSegmentHeaderUsed);
  std::memcpy(out, kMagic, sizeof kMagic);
  StoreLe32(out + kHeaderOffVersion, kFormatVersion);
  StoreLe32(out + kHeaderOffUsed, kSegmentHeaderUsed);
  StoreLe64(out + kHeaderOffSegment, h.number);
  StoreLe64(out + kHeaderOffFirstSeq, h.first_seq);
  std::memcpy(out + kHeaderOffStoreId, h.store_id.bytes, kStoreIdSize);
  StoreLe64(out + kHeaderOffCreated, h.created_ms);
  StoreLe32(out + kHeaderOffSegmentSize, h.segment_size);
  StoreLe32(out + kHeaderOffCrc, crc32c::Value(out, kHeaderOffCrc));
}

Status CheckSegmentHeader(const uint8_t* in, size_t available, SegmentHeader* out) {
  if (available < kSegmentHeaderUsed) {
    return Status(Reason::kHeaderIncomplete)
        .With("available", uint64_t{available})
        .With("expected", uint64_t{kSegmentHeaderUsed});
  }
  if (std::memcmp(in, kMagic, sizeof kMagic) != 0) {
    return Status(Reason::kBadMagic);
  }
  const uint32_t version = LoadLe32(in + kHeaderOffVersion);
  if (version != kFormatVersion) {
    return Status(Reason::kFormatVersion).With("version", uint64_t{version}).With("expected", uint64_t{kFormatVersion});
  }
  const uint32_t stored = LoadLe32(in + kHeaderOffCrc);
  const uint32_t actual = crc32c::Value(in, kHeaderOffCrc);
  if (stored != actual) {
    return Status(Reason::kHeaderChecksum).With("stored", uint64_t{stored}).With("computed", uint64_t{actual});
  }
  const uint32_t used = LoadLe32(in + kHeaderOffUsed);
  if (used != kSegmentHeaderUsed) {
    return Status(Reason::kHeaderUsed).With("used", uint64_t{used}).With("expected", uint64_t{kSegmentHeaderUsed});
  }
  out->number = LoadLe64(in + kHeaderOffSegment);
  out->first_seq = LoadLe64(in + kHeaderOffFirstSeq);
  std::memcpy(out->store_id.bytes, in + kHeaderOffStoreId, kStoreIdSize);
  out->created_ms = LoadLe64(in + kHeaderOffCreated);
  out->segment_size = LoadLe32(in + kHeaderOffSegmentSize);
  if (out->number < 1 || out->number > kMaxSafeNumber) return Status(Reason::kSegmentNumberRange);
  if (out->first_seq < 1 || out->first_seq > kMaxSafeNumber) return Status(Reason::kFirstSeqRange);
  if (out->created_ms > kMaxSafeNumber) return Status(Reason::kCreatedRange);
  if (out->segment_size < kMinSegmentSize || out->segment_size > kMaxSegmentSize ||
      out->segment_size % kSegmentHeaderSize != 0) {
    return Status(Reason::kSegmentSize).With("segmentSize", uint64_t{out->segment_size});
  }
  return Status::Ok();
}

Status DecodeSegmentHeader(const uint8_t* in, const std::string& file, SegmentHeader* out) {
  Status s = CheckSegmentHeader(in, kSegmentHeaderUsed, out);
  if (!s.ok()) s.With("file", file);
  return s;
}

uint32_t RecordCrc(const uint8_t* header, const uint8_t* payload, uint32_t length) {
  const uint32_t crc = crc32c::Extend(0, header + kRecordOffLength, kRecordHeaderSize - kRecordOffLength);
  return length == 0 ? crc : crc32c::Extend(crc, payload, length);
}

void EncodeRecordHeader(uint64_t seq, const uint8_t* payload, uint32_t length, uint8_t* out) {
  StoreLe32(out + kRecordOffLength, length);
  StoreLe64(out + kRecordOffSeq, seq);
  StoreLe32(out + kRecordOffCrc, RecordCrc(out, payload, length));
}

std::string SegmentFileName(uint64_t number) {
  std::string name(16, '0');
  for (int i = 15; i >= 0; i--) {
    name[static_cast<size_t>(i)] = kHexDigits[number & 15];
    number >>= 4;
  }
  return name + kSegmentSuffix;
}

bool ParseSegmentFileName(const std::string& name, uint64_t* number) {
  const size_t suffix = std::strlen(kSegmentSuffix);
  if (name.size() != 16 + suffix || name.compare(16, suffix, kSegmentSuffix) != 0) return false;
  uint64_t n = 0;
  for (size_t i = 0; i < 16; i++) {
    const char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    n = n << 4 | static_cast<uint64_t>(HexValue(c));
  }
  *number = n;
  return true;
}

}  // namespace wal
}  // namespace tapio
