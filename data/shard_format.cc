#include "data/shard_format.h"

#include <cstdio>

namespace vfm::data {

std::string ShardFileName(int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "shard-%05d.h5", index);
  return name;
}

}  // namespace vfm::data
