#include "binders/file/spool_claims.h"

#include <chrono>
#include <set>
#include <thread>

#include "binders/file/file_binder.h"
#include "common/logging.h"
#include "workflow/binder.h"

namespace mi::binders {
using workflow::BindingError;

namespace {

constexpr std::string_view kLockFile = ".lock";
constexpr int kMaxSuffix = 1000;

std::string sidecar_of(const std::string& name) { return name + std::string(kHeadersSuffix); }

bool is_sidecar(const std::string& name) {
  return name.size() > kHeadersSuffix.size() &&
         name.compare(name.size() - kHeadersSuffix.size(), kHeadersSuffix.size(), kHeadersSuffix) == 0;
}

}  // namespace

SpoolClaims::SpoolClaims(std::string owner, std::string binding, std::chrono::milliseconds own_lock_wait)
    : owner_(std::move(owner)), binding_(std::move(binding)), own_lock_wait_(own_lock_wait) {}

void SpoolClaims::open(const Directory& spool) {
  claims_root_ = spool.subdirectory(std::string(kClaimedDirectory), true);
  claimed_ = claims_root_->subdirectory(owner_, true);
  const auto give_up = SystemClock::instance().now() + own_lock_wait_;
  while (!(lock_ = claimed_->try_lock(std::string(kLockFile)))) {
    if (SystemClock::instance().now() >= give_up) {
      throw BindingError(binding_ + ": another running process holds " + (claimed_->path() / kLockFile).string() +
                         ": two instances share the name '" + owner_ +
                         "'; give each its own solace.connector.management.leader-election.instance-name");
    }
    SystemClock::instance().sleep_for(Millis{50});
  }
  const int returned = return_all(*claimed_, spool);
  if (returned > 0) {
    logger("binder.file")->info("{}: put {} file(s) this instance had claimed before it stopped back into {}",
                                binding_, returned, spool.path().string());
  }
  spool_names_.clear();
}

void SpoolClaims::close(const Directory& spool) {
  if (!lock_) return;
  try {
    return_all(*claimed_, spool);
  } catch (const BindingError& e) {
    // They stay claimed; the next start of this instance, or any other instance once the
    // lock is released below, puts them back.
    logger("binder.file")->warn("{}: {}", binding_, e.what());
  }
  lock_.reset();
  spool_names_.clear();
}

std::optional<std::string> SpoolClaims::claim(const Directory& spool, const std::string& name) {
  for (int n = 0; n < kMaxSuffix; ++n) {
    // Normally free: a name is taken here only if the spool got a new file of the same name
    // while the old one was still claimed.
    const std::string target = n == 0 ? name : name + ".c" + std::to_string(n);
    switch (spool.move_to(name, *claimed_, target)) {
      case Directory::MoveResult::kGone: return std::nullopt;  // another instance was first
      case Directory::MoveResult::kTaken: continue;
      case Directory::MoveResult::kMoved:
        // The sidecar follows; if it is gone or its name taken, the file goes without headers
        // rather than not at all.
        spool.move_to(sidecar_of(name), *claimed_, sidecar_of(target));
        spool_names_[target] = name;
        return target;
    }
  }
  throw BindingError(binding_ + ": cannot claim " + name + ": too many claimed files of that name in " +
                     claimed_->path().string());
}

void SpoolClaims::remove_delivered(const std::string& claimed_name) {
  claimed_->remove(sidecar_of(claimed_name));
  if (!claimed_->remove(claimed_name)) {
    throw BindingError(binding_ + ": cannot remove delivered file " + (claimed_->path() / claimed_name).string());
  }
  claimed_->sync();
  spool_names_.erase(claimed_name);
}

bool SpoolClaims::hand_back(const Directory& spool, const std::string& claimed_name) {
  const auto it = spool_names_.find(claimed_name);
  const std::string name = it == spool_names_.end() ? claimed_name : it->second;
  const bool sidecar_moved =
      claimed_->move_to(sidecar_of(claimed_name), spool, sidecar_of(name)) == Directory::MoveResult::kMoved;
  if (claimed_->move_to(claimed_name, spool, name) != Directory::MoveResult::kMoved) {
    if (sidecar_moved) spool.move_to(sidecar_of(name), *claimed_, sidecar_of(claimed_name));
    return false;
  }
  spool_names_.erase(claimed_name);
  return true;
}

int SpoolClaims::recover_abandoned(const Directory& spool) {
  int recovered = 0;
  for (const auto& entry : claims_root_->list()) {
    if (!entry.directory() || entry.name == owner_ || entry.name[0] == '.') continue;
    std::unique_ptr<Directory> other;
    try {
      other = claims_root_->subdirectory(entry.name, false);
    } catch (const BindingError&) {
      continue;  // removed meanwhile, or not a plain directory: nothing of ours
    }
    const auto lock = other->try_lock(std::string(kLockFile));
    if (!lock) continue;  // its owner is alive
    const int returned = return_all(*other, spool);
    if (returned > 0) {
      logger("binder.file")->warn("{}: put {} file(s) claimed by '{}', whose process is gone, back into {}", binding_,
                                  returned, entry.name, spool.path().string());
    }
    recovered += returned;
  }
  return recovered;
}

int SpoolClaims::return_all(const Directory& dir, const Directory& spool) {
  int returned = 0;
  for (const auto& entry : dir.list()) {
    const std::string& claimed_name = entry.name;
    if (claimed_name[0] == '.' || is_sidecar(claimed_name)) continue;
    const auto known = &dir == claimed_.get() ? spool_names_.find(claimed_name) : spool_names_.end();
    const std::string name = known == spool_names_.end() ? claimed_name : known->second;
    for (int n = 0; n < kMaxSuffix; ++n) {
      const std::string target = n == 0 ? name : name + "." + std::to_string(n);
      const auto sidecar = dir.move_to(sidecar_of(claimed_name), spool, sidecar_of(target));
      if (sidecar == Directory::MoveResult::kTaken) continue;
      const auto file = dir.move_to(claimed_name, spool, target);
      if (file == Directory::MoveResult::kTaken) {
        if (sidecar == Directory::MoveResult::kMoved) spool.move_to(sidecar_of(target), dir, sidecar_of(claimed_name));
        continue;
      }
      if (file == Directory::MoveResult::kMoved) ++returned;
      break;
    }
  }
  // Sidecars whose file is gone (delivered just before a crash) are of no use to anyone.
  std::set<std::string> left;
  for (const auto& entry : dir.list()) left.insert(entry.name);
  for (const auto& name : left) {
    if (name[0] != '.' && is_sidecar(name) && !left.count(name.substr(0, name.size() - kHeadersSuffix.size()))) {
      dir.remove(name);
    }
  }
  if (returned > 0) spool.sync();
  dir.sync();
  return returned;
}

}  // namespace mi::binders
