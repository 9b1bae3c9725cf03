#include "core/salvage_file.h"

#include <unistd.h>

#include <cerrno>
#include <map>

#include "core/json.h"
#include "core/wal_dir.h"
#include "core/wal_file.h"
#include "core/wal_format.h"

namespace tapio {
namespace wal {

std::string SalvagedContents(const StoreId& id, const std::vector<SalvageStretch>& stretches) {
  std::string out = std::string("{\"format\":\"") + kSalvagedFormatName +
                    "\",\"version\":" + std::to_string(kFormatVersion) + ",\"storeId\":\"" + StoreIdToHex(id) +
                    "\",\"stretches\":[";
  for (size_t i = 0; i < stretches.size(); i++) {
    const SalvageStretch& st = stretches[i];
    out += (i == 0 ? "" : ",");
    out += "{\"segment\":" + std::to_string(st.segment) + ",\"offset\":" + std::to_string(st.offset) +
           ",\"bytes\":" + std::to_string(st.bytes) + ",\"lostFrom\":" + std::to_string(st.lost_from) +
           ",\"lostCount\":" + std::to_string(st.lost_count) + "}";
  }
  return out + "]}";
}

void ReadSalvaged(const std::string& dir, const StoreId& store_id, std::vector<SalvageStretch>* out, bool* found,
                  Status* ignored) {
  *found = false;
  out->clear();
  *ignored = Status::Ok();
  std::string text;
  const char* op = nullptr;
  const int error_number = ReadSmallFileErrno(JoinPath(dir, kSalvagedFileName), &text, &op, kMaxSalvagedFileBytes);
  if (error_number == ENOENT) return;
  if (error_number != 0) {
    *ignored =
        Status(Reason::kSmallFileUnreadable).With("name", kSalvagedFileName).With("errno", ErrnoCode(error_number));
    return;
  }
  std::map<std::string, std::string> v;
  if (text.size() > kMaxSalvagedFileBytes || !FlatJson(text, kMaxSmallFileNesting).Parse(&v)) {
    *ignored = Status(Reason::kSmallFileNotObject).With("name", kSalvagedFileName);
    return;
  }
  if (!OwnSmallFile(v, kSalvagedFileName, kSalvagedFormatName, store_id, ignored)) return;
  const Status bad(Reason::kSalvagedStretches);
  const auto list = v.find("stretches");
  std::vector<std::string> elements;
  if (list == v.end() || list->second.empty() || list->second[0] != '[' ||
      !FlatJson(list->second, kMaxSmallFileNesting).ParseArray(&elements)) {
    *ignored = bad;
    return;
  }
  for (const std::string& e : elements) {
    std::map<std::string, std::string> f;
    SalvageStretch st;
    if (e.empty() || e[0] != '{' || !FlatJson(e, kMaxSmallFileNesting).Parse(&f) ||
        !SafeInteger(f, "segment", &st.segment) || !SafeInteger(f, "offset", &st.offset) ||
        !SafeInteger(f, "bytes", &st.bytes) || !SafeInteger(f, "lostFrom", &st.lost_from) ||
        !SafeInteger(f, "lostCount", &st.lost_count) || st.segment < 1) {
      out->clear();
      *ignored = bad;
      return;
    }
    out->push_back(st);
  }
  *found = true;
}

Status WriteSalvaged(const std::string& dir, const StoreId& id, const std::vector<SalvageStretch>& stretches) {
  const std::string path = JoinPath(dir, kSalvagedFileName);
  if (!stretches.empty()) return WriteSmallFileDurably(dir, kSalvagedFileName, SalvagedContents(id, stretches));
  if (unlink(path.c_str()) != 0) return errno == ENOENT ? Status::Ok() : ErrnoStatus("unlink", path, errno);
  return SyncDir(dir);
}

void LostBetween(uint64_t due, uint64_t found, uint64_t* from, uint64_t* count) {
  *from = found > due ? due : 0;
  *count = found > due ? found - due : 0;
}

}  // namespace wal
}  // namespace tapio
