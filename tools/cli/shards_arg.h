// `--shards A,B,C` (custdb segment, custdb report): the shards of a sharded set
// (custdb/shards.h), opened read-only with the global key options instead of --db. The
// commands merge the shards' answers (ShardSet) and print what one database holding every
// shard's customers prints. What a merged answer cannot give (a plan, revealing with an audit
// entry) is refused with a usage error naming --shards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common.h"
#include "custdb/shards.h"

namespace custdb::cli {

// "a,b,c" -> the shards' paths, in order (their placement).
inline std::vector<std::filesystem::path> shard_list(const std::string& text) {
  std::vector<std::filesystem::path> out;
  std::size_t at = 0;
  while (true) {
    const std::size_t comma = text.find(',', at);
    const std::string part = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (part.empty()) die_usage("--shards: an empty path in \"" + text + "\" (paths separated by commas)");
    out.emplace_back(part);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

// Refuses --db (CUSTDB_DB) and --reveal beside --shards, then opens the set read-only.
inline shards::ShardSet open_shards(const Globals& g, const std::string& text) {
  if (!g.db.empty()) die_usage("--shards replaces --db (CUSTDB_DB): give one or the other");
  if (g.reveal)
    die_usage("--reveal is not supported with --shards (each shard keeps its own audit trail): "
              "run it on each shard with --db");
  Options opts = base_options(g);
  opts.read_only = true;
  opts.create_if_missing = false;
  opts.key = load_key(g).key;
  auto opened = shards::ShardSet::open(shard_list(text), opts);
  if (!opened && opened.error().code() == ErrorCode::kInvalidArgument) die_usage(opened.error().message());
  return must(std::move(opened));
}

}  // namespace custdb::cli
