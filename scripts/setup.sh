#!/usr/bin/env bash
# Installs custdb's build and test dependencies on Debian 12 (the library's, the CLI's, the
# tests', the benchmark's SQLite/SQLCipher and sqlite3 shell, clang-14 for the fuzzers). Needs root (or sudo)
# only when something is missing.
set -euo pipefail
packages=(
  cmake ninja-build g++ pkg-config liblmdb-dev lmdb-utils libflatbuffers-dev
  flatbuffers-compiler libxxhash-dev libsodium-dev libexpected-dev libboost-test-dev
  libroaring-dev libnlopt-cxx-dev libboost-dev libcli11-dev libsqlite3-dev libsqlcipher-dev sqlite3 clang-14 libclang-rt-14-dev
  libphonenumber-dev libidn2-dev libutf8proc-dev iso-codes nats-server libnats-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
