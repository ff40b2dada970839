#pragma once
// Defence in depth against a message that crashes the process. Before a workflow hands a batch
// to its output it writes the batch's fingerprints to an in-hand record, and clears it once
// the batch is settled. A process that dies meanwhile (SIGSEGV, abort, OOM kill) leaves the
// record behind; the next start counts one crash for each message in it. A message that has
// been in hand at max-crashes deaths is set aside (dead-lettered, or moved to the spool's
// .rejected/) instead of being handed to the output again, so one bad message cannot keep
// the service in a crash loop under Restart=on-failure.
//
// The in-hand record is written without fsync: a crashed process's writes stay in the page
// cache, and a power loss is no sign of a poison message. A graceful stop settles or hands
// back everything first, so it never counts.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "workflow/binder.h"

namespace mi::workflow {

class PoisonGuard {
 public:
  // Crash counts kept at most (a batch in hand is at most 255 messages).
  static constexpr std::size_t kMaxRemembered = 1000;

  // Records live in `directory` (created when missing) as <name>.in-hand and <name>.crashes.
  // max_crashes 0: the guard is off and touches no file.
  PoisonGuard(std::filesystem::path directory, std::string name, int max_crashes);
  ~PoisonGuard();
  PoisonGuard(const PoisonGuard&) = delete;
  PoisonGuard& operator=(const PoisonGuard&) = delete;

  // Reads what the previous run left: every message still in hand counts one crash. Returns
  // how many there were (0 after a graceful stop). Throws std::runtime_error when the
  // directory cannot be used.
  int open();
  bool enabled() const { return max_crashes_ > 0; }

  // FNV-1a (64 bits) over the payload and the headers that name a message across redeliveries
  // (message-id, correlation-id, file_name); not over headers a redelivery may change.
  static std::uint64_t fingerprint(const Message& message);

  // Deaths of the process while this message was in hand.
  int crashes(std::uint64_t fingerprint) const;
  bool is_poison(std::uint64_t fingerprint) const { return enabled() && crashes(fingerprint) >= max_crashes_; }

  // Before the output is given these messages.
  void taking(const std::vector<std::uint64_t>& fingerprints);
  // Every message taken is settled (delivered, handed back or set aside).
  void settled();
  // The message has gone its way (delivered or set aside): its count is dropped.
  void forget(std::uint64_t fingerprint);

 private:
  void save_crashes();

  const std::filesystem::path directory_;
  const std::string name_;
  const int max_crashes_;
  int in_hand_fd_ = -1;
  bool in_hand_empty_ = true;
  std::map<std::uint64_t, int> crashes_;
};

}  // namespace mi::workflow
