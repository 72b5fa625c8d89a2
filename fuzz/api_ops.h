// The byte encoding of fuzz/api_sequence.cc's operations, shared with fuzz/make_seeds.cc so the
// seed corpus is written in the same language the target reads.
//
// An input is a setup byte, then operations: an op byte (value % kOpCount) and its arguments:
//   kBegin, kCommit, kAbort                       -
//   kInsert, kOneShotInsert                       id, CustomerSpec
//   kOneShotInsertMany                            n (1 + n % 3), then n times: id, CustomerSpec
//   kUpdate                                       id, CustomerSpec, extra (bit 0: set c.id, bit 1:
//                                                 set aggregates; both must be ignored)
//   kDeleteRestrict, kDeleteCascade               id
//   kAddRel                                       from id, to id, type, custom name, since
//   kRemoveRel, kRemoveTxn                        relationship / transaction id % 10
//   kAddTxn, kOneShotAddTxn                       transaction id choice, TxnSpec
//   kAmendTxn                                     transaction id % 10, TxnSpec
//   kRead                                         id, range
//   kQuery                                        query index
// CustomerSpec: u16 mask (LE) of CustomerField bits, then one value byte per set bit in bit
// order. TxnSpec: u16 mask of TxnField bits, then one byte per set bit.
// Customer ids (id byte % 16): 0 -> 0, 1..12 -> 1..8 (9..12 -> 1..4), 13 -> 2^63-1, 14 -> 2^63,
// 15 -> 100. Insert ids: byte % 16 < 8 -> 0 (assign one), otherwise as customer ids.
// Transaction id choice (byte % 16): 0..12 -> 0 (assign), 13 -> 2^63-1, 14 -> 2^63,
// 15 -> 1 + (byte >> 4) % 8.
#pragma once

#include <cstdint>

namespace custdb::fuzz::api {

enum Setup : std::uint8_t { kSmallMap = 1, kEncrypted = 2 };

enum Op : std::uint8_t {
  kBegin, kCommit, kAbort, kInsert, kUpdate, kDeleteRestrict, kDeleteCascade, kAddRel, kRemoveRel,
  kAddTxn, kAmendTxn, kRemoveTxn, kRead, kOneShotInsert, kOneShotInsertMany, kOneShotAddTxn,
  kQuery, kOpCount
};

enum CustomerField {
  kFName, kFRef, kFEmail, kFPhone, kFType, kFGender, kFTier, kFStage, kFRisk, kFPlace,
  kFCountry, kFIncome, kFBirth, kFConsents, kFTags, kFCreated, kFieldCount
};

enum TxnField {
  kTCustomer, kTTs, kTAmount, kTCurrency, kTBase, kTKind, kTChannel, kTProduct, kTDescription,
  kTFieldCount
};

}  // namespace custdb::fuzz::api
