#include "data/shard_format.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/crc32c.h"

namespace vfm::data {

std::string ShardFileName(int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "shard-%05d.h5", index);
  return name;
}

absl::StatusOr<uint32_t> FileRangeCrc32c(int fd, uint64_t begin, uint64_t end, uint32_t crc) {
  std::vector<char> chunk(std::min<uint64_t>(end - begin, 1 << 20));
  for (uint64_t at = begin; at < end;) {
    const ssize_t got = ::pread(fd, chunk.data(), std::min<uint64_t>(chunk.size(), end - at), off_t(at));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return absl::DataLossError(absl::StrCat("read failed at byte ", at, ": ", std::strerror(errno)));
    if (got == 0) return absl::DataLossError(absl::StrCat("file ends at byte ", at, ", expected ", end));
    crc = Crc32c(crc, chunk.data(), size_t(got));
    at += uint64_t(got);
  }
  return crc;
}

absl::StatusOr<uint32_t> ShardMetaCrc32c(int fd, uint64_t file_size, uint64_t data_offset, uint64_t data_bytes) {
  absl::StatusOr<uint32_t> head = FileRangeCrc32c(fd, 0, data_offset);
  if (!head.ok()) return head;
  return FileRangeCrc32c(fd, data_offset + data_bytes, file_size, *head);
}

}  // namespace vfm::data
