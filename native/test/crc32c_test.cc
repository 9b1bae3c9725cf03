// CRC32C: published vectors, composition through Extend(), the CPU kernels against the portable
// tables on every length and alignment that reaches a different code path, and the zero-byte
// shift that joins the three parallel streams.
#include "core/crc32c.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "test/harness.h"

namespace tapio {
namespace crc32c {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;

// One bit at a time, straight from the definition: the reference that shares nothing with the
// table or instruction paths.
uint32_t ExtendBitwise(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t reg = ~crc;
  for (size_t i = 0; i < n; i++) {
    reg ^= p[i];
    for (int k = 0; k < 8; k++) reg = (reg & 1) ? (reg >> 1) ^ kPoly : reg >> 1;
  }
  return ~reg;
}

// The raw register advanced over `n` zero bytes, one byte (eight bit steps) at a time.
uint32_t ShiftZerosBytewise(uint32_t reg, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < 8; k++) reg = (reg & 1) ? (reg >> 1) ^ kPoly : reg >> 1;
  }
  return reg;
}

uint32_t ExtendSse42(uint32_t crc, const uint8_t* p, size_t n) { return ~internal::ExtendRawSse42(~crc, p, n); }
uint32_t ExtendArm(uint32_t crc, const uint8_t* p, size_t n) { return ~internal::ExtendRawArm(~crc, p, n); }

using ExtendFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

struct Impl {
  const char* name;
  ExtendFn fn;
};

// Every implementation that may be called on this CPU, except the portable reference: the
// dispatched Extend and each kernel directly (so a kernel is tested even if dispatch changes).
// Off their own CPU family the kernel symbols are portable fallbacks, safe to call anywhere.
std::vector<Impl> KernelsUnderTest() {
  std::vector<Impl> impls = {{"Extend", Extend}};
  const CpuFeatures& f = GetCpuFeatures();
#if defined(__x86_64__)
  if (f.sse42) impls.push_back({"ExtendRawSse42", ExtendSse42});
  impls.push_back({"ExtendRawArm (portable fallback)", ExtendArm});
#elif defined(__aarch64__)
  impls.push_back({"ExtendRawSse42 (portable fallback)", ExtendSse42});
  if (f.arm_crc) impls.push_back({"ExtendRawArm", ExtendArm});
#else
  impls.push_back({"ExtendRawSse42 (portable fallback)", ExtendSse42});
  impls.push_back({"ExtendRawArm (portable fallback)", ExtendArm});
#endif
  (void)f;
  return impls;
}

std::vector<Impl> AllImplementations() {
  std::vector<Impl> impls = KernelsUnderTest();
  impls.push_back({"ExtendPortable", ExtendPortable});
  impls.push_back({"bitwise reference", ExtendBitwise});
  return impls;
}

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// Heap bytes whose last byte is the last byte of the allocation, starting `misalign` bytes past
// a 64-byte boundary: a kernel that reads past the end is caught by AddressSanitizer, and every
// alignment of the start is reached deliberately.
class PlacedBytes {
 public:
  PlacedBytes(const uint8_t* src, size_t n, size_t misalign)
      : base_(static_cast<uint8_t*>(::operator new(misalign + n, std::align_val_t{64}))),
        data_(base_ + misalign),
        size_(n) {
    if (n > 0) std::memcpy(data_, src, n);
  }
  ~PlacedBytes() { ::operator delete(base_, std::align_val_t{64}); }
  PlacedBytes(const PlacedBytes&) = delete;
  PlacedBytes& operator=(const PlacedBytes&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* base_;
  uint8_t* data_;
  size_t size_;
};

const uint8_t* Bytes(const char* s) { return reinterpret_cast<const uint8_t*>(s); }

struct Vector {
  const char* label;
  std::vector<uint8_t> bytes;
  uint32_t crc;
};

std::vector<Vector> KnownVectors() {
  std::vector<Vector> v;
  auto text = [](const char* s) { return std::vector<uint8_t>(Bytes(s), Bytes(s) + std::strlen(s)); };
  v.push_back({"empty", {}, 0x00000000u});
  v.push_back({"\"a\"", text("a"), 0xC1D04330u});
  v.push_back({"\"123456789\"", text("123456789"), 0xE3069283u});
  v.push_back({"32 x 0x00", std::vector<uint8_t>(32, 0x00), 0x8A9136AAu});
  v.push_back({"32 x 0xFF", std::vector<uint8_t>(32, 0xFF), 0x62A8AB43u});
  std::vector<uint8_t> ascending(32), descending(32);
  for (int i = 0; i < 32; i++) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  v.push_back({"0..31 ascending", ascending, 0x46DD794Eu});
  v.push_back({"31..0 descending", descending, 0x113FDB5Cu});
  // The iSCSI read command PDU of RFC 3720, appendix B.4.
  v.push_back({"iSCSI read PDU",
               {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
                0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
               0xD9963A56u});
  return v;
}

TEST(Crc32c, KnownVectors) {
  for (const Impl& impl : AllImplementations()) {
    for (const Vector& v : KnownVectors()) {
      for (size_t misalign = 0; misalign < 16; misalign++) {
        PlacedBytes buf(v.bytes.data(), v.bytes.size(), misalign);
        EXPECT_EQ(v.crc, impl.fn(0, buf.data(), buf.size()))
            << impl.name << ", " << v.label << ", misaligned by " << misalign;
      }
    }
  }
}

TEST(Crc32c, ValueIsExtendFromZero) {
  EXPECT_EQ(0xE3069283u, Value(Bytes("123456789"), 9));
  EXPECT_EQ(0u, Value(nullptr, 0));
  EXPECT_EQ(0x12345678u, Extend(0x12345678u, nullptr, 0)) << "extending by nothing keeps the CRC";
}

TEST(Crc32c, PortableMatchesBitwiseReference) {
  std::mt19937_64 rng(1);
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 600; n++) lengths.push_back(n);
  for (size_t n : {767u, 768u, 769u, 4096u, 24575u, 24576u, 24577u, 65536u + 3u}) lengths.push_back(n);
  for (size_t n : lengths) {
    const std::vector<uint8_t> data = RandomBytes(rng, n);
    const uint32_t initial = static_cast<uint32_t>(rng());
    EXPECT_EQ(ExtendBitwise(initial, data.data(), n), ExtendPortable(initial, data.data(), n))
        << "length " << n << ", initial " << initial;
  }
}

TEST(Crc32c, ExtendComposesAtEverySplit) {
  std::mt19937_64 rng(2);
  const std::vector<uint8_t> data = RandomBytes(rng, 2048);
  const uint32_t whole = ExtendBitwise(0, data.data(), data.size());
  for (const Impl& impl : AllImplementations()) {
    ASSERT_EQ(whole, impl.fn(0, data.data(), data.size())) << impl.name;
    for (size_t split = 0; split <= data.size(); split++) {
      const uint32_t a = impl.fn(0, data.data(), split);
      EXPECT_EQ(whole, impl.fn(a, data.data() + split, data.size() - split)) << impl.name << ", split at " << split;
    }
  }
}

TEST(Crc32c, ExtendComposesAcrossBlockBoundaries) {
  // Splits on and around the three-way round sizes (3 x 256 and 3 x 8192 bytes), so one part ends
  // inside a round and the other starts there.
  std::mt19937_64 rng(3);
  const std::vector<uint8_t> data = RandomBytes(rng, 2 * 3 * 8192 + 3 * 256 + 123);
  const uint32_t whole = ExtendPortable(0, data.data(), data.size());
  std::vector<size_t> splits;
  for (size_t center :
       {size_t{256}, size_t{768}, size_t{1536}, size_t{8192}, size_t{24576}, size_t{24576 + 768}, size_t{49152}}) {
    for (int delta : {-9, -8, -7, -1, 0, 1, 7, 8, 9}) splits.push_back(center + delta);
  }
  for (const Impl& impl : KernelsUnderTest()) {
    for (size_t split : splits) {
      const uint32_t a = impl.fn(0, data.data(), split);
      EXPECT_EQ(whole, impl.fn(a, data.data() + split, data.size() - split)) << impl.name << ", split at " << split;
    }
    // Three parts, the middle one a whole short round.
    for (size_t first : {size_t{1}, size_t{5}, size_t{8}, size_t{100}}) {
      uint32_t crc = impl.fn(0, data.data(), first);
      crc = impl.fn(crc, data.data() + first, 768);
      crc = impl.fn(crc, data.data() + first + 768, data.size() - first - 768);
      EXPECT_EQ(whole, crc) << impl.name << ", parts " << first << " / 768 / rest";
    }
  }
}

TEST(Crc32c, KernelsMatchPortableAtEveryLengthAndAlignment) {
  if (!IsHardware()) std::printf("  note: no CRC32C instructions on this CPU; comparing the fallbacks\n");
  const std::vector<Impl> impls = KernelsUnderTest();
  std::mt19937_64 rng(4);
  const std::vector<uint8_t> source = RandomBytes(rng, 4096 + 16);
  for (size_t n = 0; n <= 4096; n++) {
    for (size_t misalign = 0; misalign < 16; misalign++) {
      PlacedBytes buf(source.data() + misalign, n, misalign);
      const uint32_t initial = (n & 1) ? static_cast<uint32_t>(rng()) : 0;
      const uint32_t want = ExtendPortable(initial, buf.data(), n);
      for (const Impl& impl : impls) {
        ASSERT_EQ(want, impl.fn(initial, buf.data(), n))
            << impl.name << ", length " << n << ", misaligned by " << misalign << ", initial " << initial;
      }
    }
  }
}

TEST(Crc32c, KernelsMatchPortableAroundRoundSizes) {
  const std::vector<Impl> impls = KernelsUnderTest();
  std::vector<size_t> lengths;
  for (size_t center : {size_t{3 * 256}, size_t{2 * 3 * 256}, size_t{3 * 8192}, size_t{3 * 8192 + 3 * 256},
                        size_t{2 * 3 * 8192}, size_t{2 * 3 * 8192 + 2 * 3 * 256}}) {
    for (int delta : {-8, -1, 0, 1, 8}) lengths.push_back(center + delta);
  }
  lengths.push_back(size_t{1} << 20);
  lengths.push_back((size_t{1} << 20) + 7);
  std::mt19937_64 rng(5);
  const std::vector<uint8_t> source = RandomBytes(rng, (size_t{1} << 20) + 7);
  for (size_t n : lengths) {
    for (size_t misalign = 0; misalign < 16; misalign++) {
      PlacedBytes buf(source.data(), n, misalign);
      const uint32_t initial = static_cast<uint32_t>(rng());
      const uint32_t want = ExtendPortable(initial, buf.data(), n);
      for (const Impl& impl : impls) {
        EXPECT_EQ(want, impl.fn(initial, buf.data(), n))
            << impl.name << ", length " << n << ", misaligned by " << misalign << ", initial " << initial;
      }
    }
  }
}

TEST(Crc32c, IsHardwareFollowsTheCpu) {
  const CpuFeatures& f = GetCpuFeatures();
#if defined(__x86_64__)
  EXPECT_EQ(f.sse42, IsHardware());
#elif defined(__aarch64__)
  EXPECT_EQ(f.arm_crc, IsHardware());
#else
  EXPECT_FALSE(IsHardware());
#endif
  (void)f;
  EXPECT_EQ(IsHardware(), IsHardware()) << "the kernel is chosen once";
}

TEST(ZeroShift, MatchesBytewiseReference) {
  std::mt19937_64 rng(6);
  std::vector<uint32_t> regs = {0u, 1u, 0xFFFFFFFFu, 0x80000000u, 0xDEADBEEFu};
  for (int bit = 0; bit < 32; bit++) regs.push_back(1u << bit);
  for (int i = 0; i < 32; i++) regs.push_back(static_cast<uint32_t>(rng()));
  for (size_t n : {0u, 1u, 2u, 3u, 4u, 7u, 8u, 9u, 15u, 16u, 255u, 256u, 257u, 1000u, 4096u, 8191u, 8192u, 8193u}) {
    const ZeroShift shift(n);
    for (uint32_t reg : regs) {
      EXPECT_EQ(ShiftZerosBytewise(reg, n), shift.Apply(reg)) << "n " << n << ", register " << reg;
    }
  }
}

TEST(ZeroShift, JoinsAdjacentBlocks) {
  // The identity the three-way kernel relies on: the register after a||b equals the register
  // after a, shifted over |b| zero bytes, xor the register of b started from zero.
  std::mt19937_64 rng(7);
  for (size_t len_b : {1u, 8u, 64u, 256u, 1000u, 8192u}) {
    const ZeroShift shift(len_b);
    for (size_t len_a : {0u, 1u, 13u, 256u, 8192u}) {
      const std::vector<uint8_t> data = RandomBytes(rng, len_a + len_b);
      const uint32_t start = static_cast<uint32_t>(rng());
      const uint32_t joined = shift.Apply(internal::ExtendRawPortable(start, data.data(), len_a)) ^
                              internal::ExtendRawPortable(0, data.data() + len_a, len_b);
      EXPECT_EQ(internal::ExtendRawPortable(start, data.data(), data.size()), joined)
          << "|a| " << len_a << ", |b| " << len_b;
    }
  }
}

}  // namespace
}  // namespace crc32c
}  // namespace tapio
