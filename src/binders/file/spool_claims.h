#pragma once
// One spool shared by several instances (active_active): before an instance reads a file it
// claims it by renaming it into its own claim directory, <spool>/.claimed/<owner>/. A rename
// has one winner, so each file is read and delivered by exactly one instance.
//
// While it runs, the owner holds an exclusive flock on <spool>/.claimed/<owner>/.lock. The
// kernel drops that lock when the process dies (on NFS, when the client's lease runs out), so
// an instance that can take another owner's lock knows that owner is gone, and puts its claims
// back into the spool for everyone (recover_abandoned). A live owner's claims are never taken
// however long it holds them, so a slow output causes no duplicates.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "binders/file/directory.h"

namespace mi::binders {

inline constexpr std::string_view kClaimedDirectory = ".claimed";

class SpoolClaims {
 public:
  // `owner`: unique among the instances and bindings sharing the spool, the same after a
  // restart (<instance name>.<binding>). `binding` names the binding in messages.
  // `own_lock_wait`: how long open() waits for the owner's lock, which another instance holds
  // for a moment while it puts this owner's claims back.
  SpoolClaims(std::string owner, std::string binding,
              std::chrono::milliseconds own_lock_wait = std::chrono::milliseconds(3000));

  // Takes the owner's lock and puts what a previous run of this owner left claimed back into
  // the spool. Throws BindingError, naming the owner, if a live process holds the lock.
  void open(const Directory& spool);
  // Releases the lock; claims not yet delivered go back to the spool first.
  void close(const Directory& spool);
  bool is_open() const { return lock_ != nullptr; }

  // Moves `name` (then its sidecar) from the spool into the claim directory. Nothing if
  // another instance claimed it first; else the name to read it by in claimed().
  std::optional<std::string> claim(const Directory& spool, const std::string& name);
  const Directory& claimed() const { return *claimed_; }
  // The name a claimed file had in the spool.
  std::string spool_name(const std::string& claimed_name) const {
    const auto it = spool_names_.find(claimed_name);
    return it == spool_names_.end() ? claimed_name : it->second;
  }

  // The claimed file `claimed_name` was delivered: removes it and its sidecar.
  void remove_delivered(const std::string& claimed_name);
  // Puts `claimed_name` (with its sidecar) back into the spool under the name it had there.
  // False if a file of that name has appeared in the spool meanwhile; it then stays claimed.
  bool hand_back(const Directory& spool, const std::string& claimed_name);

  // For each other owner whose lock is free (its process is gone), moves its claims back into
  // the spool. Returns how many files were recovered.
  int recover_abandoned(const Directory& spool);

 private:
  // Moves every claimed file of `dir` back into the spool, each sidecar before its file (so a
  // file never reappears without its headers). A name the spool has meanwhile gets a suffix.
  int return_all(const Directory& dir, const Directory& spool);

  const std::string owner_;
  const std::string binding_;
  const std::chrono::milliseconds own_lock_wait_;
  std::unique_ptr<Directory> claims_root_;  // <spool>/.claimed
  std::unique_ptr<Directory> claimed_;      // <spool>/.claimed/<owner>
  std::unique_ptr<Directory::Lock> lock_;
  std::map<std::string, std::string> spool_names_;  // claimed name -> name in the spool
};

}  // namespace mi::binders
