#!/usr/bin/env bash
# Fetches DuckDB's shared library for the benchmark (custdb_bench --suite full, engine duckdb).
# Benchmark only: the library, the CLI and the tests never use DuckDB, and scripts/setup.sh does
# not run this. The library ships inside the npm package @duckdb/node-bindings-linux-x64 (the
# only place this machine can reach it): `npm pack` downloads the package tarball without
# installing anything, and libduckdb.so is taken out of it. The bench dlopen()s it
# (tools/bench/duckdb_api.h), so no header or link step is needed.
#
#   tools/bench/setup_duckdb.sh [VERSION]     # default 1.5.6-r.1 (DuckDB 1.5.6)
#
# Cache: $CUSTDB_BENCH_CACHE (default ~/.cache/custdb-bench)/duckdb-VERSION/. Prints the path of
# libduckdb.so on stdout, to pass as `custdb_bench --duckdb PATH` or to export as
# CUSTDB_DUCKDB_LIB. Running it again reuses the cache.
set -euo pipefail

version="${1:-1.5.6-r.1}"
cache="${CUSTDB_BENCH_CACHE:-${HOME}/.cache/custdb-bench}/duckdb-${version}"
lib="${cache}/package/libduckdb.so"

if [[ ! -f "${lib}" ]]; then
  command -v npm >/dev/null || { echo "setup_duckdb.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
  mkdir -p "${cache}"
  (cd "${cache}" && npm pack --silent "@duckdb/node-bindings-linux-x64@${version}" >/dev/null)
  tarball="$(ls "${cache}"/duckdb-node-bindings-linux-x64-*.tgz | head -n 1)"
  tar -xzf "${tarball}" -C "${cache}"
  found="$(find "${cache}" -name 'libduckdb.so' -type f | head -n 1)"
  [[ -n "${found}" ]] || { echo "setup_duckdb.sh: no libduckdb.so in ${tarball}" >&2; exit 1; }
  if [[ "${found}" != "${lib}" ]]; then mkdir -p "$(dirname "${lib}")"; ln -sf "${found}" "${lib}"; fi
fi
echo "${lib}"
