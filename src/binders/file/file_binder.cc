#include "binders/file/file_binder.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "binders/file/directory.h"
#include "binders/file/sidecar.h"
#include "binders/file/spool_claims.h"
#include "common/bounded_json.h"
#include "common/logging.h"
#include "config/key_table.h"

namespace mi::binders {
namespace fs = std::filesystem;
using workflow::BindingError;
using workflow::Delivery;
using workflow::Message;

namespace {

constexpr std::size_t kDefaultMaxMessageBytes = 16 * 1024 * 1024;
constexpr std::string_view kRejectedDirectory = ".rejected";
// How often an input sharing its spool looks for claims of instances that are gone.
constexpr auto kClaimRecoveryInterval = std::chrono::seconds(2);
constexpr Millis kDefaultQuietPeriod{1000};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string errno_text(const std::string& what, const fs::path& path) {
  return what + " " + shown(path) + ": " + std::strerror(errno);
}

void ensure_directory(const fs::path& dir, const std::string& binding) {
  if (dir.empty()) throw BindingError(binding + ": destination (a directory) is not set");
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  if (fs::exists(dir, ec)) throw BindingError(binding + ": " + dir.string() + " is not a directory");
  fs::create_directories(dir, ec);
  if (ec) throw BindingError(binding + ": cannot create directory " + dir.string() + ": " + ec.message());
  logger("binder.file")->info("{}: created directory {}", binding, dir.string());
}

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name.size() < 200 && name[0] != '.' &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos &&
         !ends_with(name, kHeadersSuffix);
}

// A spool file that could not be delivered, remembered so it is reported once.
struct SkippedFile {
  ino_t inode;
  std::int64_t mtime_ns;
  off_t size;
  bool same_as(const Directory::Entry& e) const {
    return inode == e.inode && mtime_ns == e.mtime_ns && size == e.size;
  }
};

// A spool file whose writer cannot be asked (consumer.ready-check): taken once it has looked
// the same for the quiet period.
struct QuietWatch {
  ino_t inode;
  std::int64_t mtime_ns;
  off_t size;
  SteadyTime unchanged_since;
  bool same_as(const Directory::Entry& e) const {
    return inode == e.inode && mtime_ns == e.mtime_ns && size == e.size;
  }
};

// A message taken from the spool, not yet acknowledged.
struct InFlightFile {
  std::string name;  // in the claim directory when shared
  Directory::ReadResult read;  // the file as it was read
};

class FileInput final : public workflow::InputBinding {
 public:
  explicit FileInput(config::BindingSettings s)
      : settings_(std::move(s)),
        path_(settings_.destination),
        max_message_bytes_(max_message_size(settings_)),
        quiet_period_(quiet_period(settings_)),
        quiet_period_only_(option(settings_, "consumer.readycheck") == "quiet-period") {
    if (settings_.shared) claims_.emplace(settings_.instance_name + "." + settings_.name, settings_.name);
  }
  ~FileInput() override { close(); }

  void open() override {
    ensure_directory(path_, settings_.name);
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) throw BindingError(errno_text("inotify_init1 failed for", path_));
    if (inotify_add_watch(inotify_fd_, path_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
      throw BindingError(errno_text("cannot watch", path_));
    }
    if (claims_) claims_->open(Directory(path_));
    if (!quiet_period_only_ && Directory(path_).on_network_file_system()) {
      quiet_period_only_ = true;
      logger("binder.file")->info(
          "{}: {} is on a network file system, where a writer on another host holds no lease here: a file is "
          "taken once its size and modification time stayed the same for {} ms (consumer.quiet-period)",
          settings_.name, path_.string(), quiet_period_.count());
    }
  }

  std::optional<Delivery> receive(Millis timeout) override {
    if (claims_ && !backlog_.empty()) {
      const std::string claimed = backlog_.front();
      backlog_.pop_front();
      return deliver_claimed(claimed, claims_->spool_name(claimed));
    }
    if (pending_.empty()) scan();
    recover_abandoned_claims();
    const auto deadline = SystemClock::instance().now() + timeout;
    while (pending_.empty()) {
      // Sleep until something lands in the spool or a writer closes a file (inotify), a quiet
      // period ends, or the deadline; then look again.
      const auto now = SystemClock::instance().now();
      auto left = std::chrono::duration_cast<Millis>(deadline - now);
      if (left.count() <= 0) break;
      if (next_quiet_end_) {
        left = std::min(left, std::max(Millis{1}, std::chrono::ceil<Millis>(*next_quiet_end_ - now)));
      }
      pollfd p{inotify_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) > 0) {
        char buf[4096];
        while (::read(inotify_fd_, buf, sizeof buf) > 0) {
        }
      }
      scan();
    }
    while (!pending_.empty()) {
      const Directory::Entry entry = std::move(pending_.front());
      pending_.erase(pending_.begin());
      // Finished when scanned; a writer may have opened it again since.
      if (!quiet_period_only_ && dir_->writers(entry.name) == Directory::Writers::kWriting) continue;
      if (claims_) {
        const auto claimed = claims_->claim(*dir_, entry.name);
        if (!claimed) continue;  // another instance claimed it first
        if (auto d = deliver_claimed(*claimed, entry.name)) return d;
        continue;
      }
      Delivery d;
      const auto result = dir_->read(entry.name, max_message_bytes_, d.message.payload);
      if (result.status == Directory::ReadStatus::kGone) continue;
      if (result.status != Directory::ReadStatus::kOk) {
        set_aside(entry, result.reason);
        continue;
      }
      if (auto refused = read_headers(*dir_, entry.name, d.message.headers)) {
        set_aside(entry, *refused);
        continue;
      }
      d.message.headers[std::string(kFileNameHeader)] = entry.name;
      d.tag = ++last_tag_;
      in_flight_[d.tag] = InFlightFile{entry.name, result};
      return d;
    }
    return std::nullopt;
  }

  void ack(const Delivery& d) override {
    auto it = in_flight_.find(d.tag);
    if (it == in_flight_.end()) return;
    const InFlightFile file = it->second;
    const std::string& name = file.name;
    in_flight_.erase(it);
    if (claims_) {
      claims_->remove_delivered(name);
      return;
    }
    // Never remove what was not delivered: a file written again since it was read, still (or
    // again) open for writing, or replaced by a new one of the same name stays and is taken
    // again (a duplicate of what was read, but nothing lost).
    Directory::Entry now;
    if (dir_->stat(name, now) &&
        (now.inode != file.read.inode || now.size != file.read.size || now.mtime_ns != file.read.mtime_ns ||
         dir_->writers(name) == Directory::Writers::kWriting)) {
      logger("binder.file")->warn("{}: {} changed after it was read (written to again, or replaced); it stays in "
                                  "the spool and is delivered again",
                                  settings_.name, shown(path_ / name));
      return;
    }
    dir_->remove(name + std::string(kHeadersSuffix));
    if (!dir_->remove(name)) throw BindingError(errno_text("cannot remove delivered file", path_ / name));
    dir_->sync();
  }

  void reject(const Delivery& d) override {
    auto it = in_flight_.find(d.tag);
    if (it == in_flight_.end()) return;
    const std::string name = it->second.name;
    in_flight_.erase(it);
    // Shared: back into the spool, where any instance may take it (this one's output may be
    // the one that is down). If its name was taken there meanwhile, this instance keeps it.
    if (claims_ && dir_ && !claims_->hand_back(*dir_, name)) backlog_.push_back(name);
  }

  // A message that crashed the process: into <spool>/.rejected/ with its sidecar, as files that
  // cannot be messages go (the workflow logs the ERROR that names it).
  bool set_aside(const Delivery& d, const std::string& reason) override {
    auto it = in_flight_.find(d.tag);
    if (it == in_flight_.end()) return false;
    const std::string name = it->second.name;
    if (!dir_) dir_ = std::make_unique<Directory>(path_);
    std::string spool_name = name;
    if (claims_) {
      spool_name = claims_->spool_name(name);
      if (!claims_->hand_back(*dir_, name)) return false;  // its name is taken in the spool: stays claimed
    }
    const std::string moved_as = move_to_rejected(spool_name);
    in_flight_.erase(it);
    logger("binder.file")->warn("{}: {} moved to {}: {}", settings_.name, shown(spool_name),
                                shown(path_ / kRejectedDirectory / moved_as), reason);
    return true;
  }

  void close() override {
    if (inotify_fd_ >= 0) ::close(inotify_fd_);
    inotify_fd_ = -1;
    if (claims_ && claims_->is_open()) {
      try {
        claims_->close(Directory(path_));
      } catch (const BindingError& e) {
        logger("binder.file")->warn("{}: {}", settings_.name, e.what());
      }
      backlog_.clear();
      in_flight_.clear();
    }
  }

 private:
  // consumer.max-message-size, checked against the key table (a data size: 16MB) before this runs.
  static std::string option(const config::BindingSettings& s, const std::string& canonical_key) {
    auto it = s.options.find(canonical_key);
    return it == s.options.end() ? std::string() : it->second;
  }
  // consumer.quiet-period, checked against the key table (a duration: 1s) before this runs.
  static Millis quiet_period(const config::BindingSettings& s) {
    long long ms = 0;
    if (!config::parse_duration_ms(option(s, "consumer.quietperiod"), ms) || ms <= 0) return kDefaultQuietPeriod;
    return Millis{ms};
  }
  static std::size_t max_message_size(const config::BindingSettings& s) {
    long long bytes = 0;
    auto it = s.options.find("consumer.maxmessagesize");
    if (it == s.options.end() || !config::parse_data_size(it->second, bytes) || bytes <= 0) return kDefaultMaxMessageBytes;
    return static_cast<std::size_t>(bytes);
  }

  // A file this instance has claimed (shared spool): read from the claim directory. A file that
  // cannot be a message goes back into the spool and is set aside from there as usual.
  std::optional<Delivery> deliver_claimed(const std::string& claimed_name, const std::string& spool_name) {
    Delivery d;
    const Directory& claimed = claims_->claimed();
    const auto result = claimed.read(claimed_name, max_message_bytes_, d.message.payload);
    if (result.status == Directory::ReadStatus::kGone) return std::nullopt;
    if (result.status != Directory::ReadStatus::kOk) {
      if (!dir_) dir_ = std::make_unique<Directory>(path_);
      if (claims_->hand_back(*dir_, claimed_name)) {
        for (const auto& e : dir_->list()) {
          if (e.name == spool_name) set_aside(e, result.reason);
        }
      }
      return std::nullopt;
    }
    auto refused = read_headers(claimed, claimed_name, d.message.headers);
    if (refused) {
      if (!dir_) dir_ = std::make_unique<Directory>(path_);
      if (claims_->hand_back(*dir_, claimed_name)) {
        for (const auto& e : dir_->list()) {
          if (e.name == spool_name) set_aside(e, *refused);
        }
      }
      return std::nullopt;
    }
    d.message.headers[std::string(kFileNameHeader)] = spool_name;
    d.tag = ++last_tag_;
    in_flight_[d.tag] = InFlightFile{claimed_name, result};
    return d;
  }

  // Every few seconds: claims of instances whose process is gone go back into the spool.
  void recover_abandoned_claims() {
    if (!claims_ || !dir_) return;
    const auto now = SystemClock::instance().now();
    if (now < next_recovery_) return;
    next_recovery_ = now + kClaimRecoveryInterval;
    if (claims_->recover_abandoned(*dir_) > 0) scan();
  }

  // Opens the directory anew (a replaced spool is noticed) and lists what can be delivered,
  // oldest first. Anything else that is not hidden is set aside or reported here.
  void scan() {
    dir_ = std::make_unique<Directory>(path_);  // throws when the spool is gone: the workflow backs off
    std::set<std::string> busy;
    for (const auto& [tag, file] : in_flight_) busy.insert(file.name);
    const SteadyTime now = SystemClock::instance().now();
    next_quiet_end_.reset();
    std::vector<Directory::Entry> found;
    std::set<std::string> present;
    for (auto& e : dir_->list()) {
      present.insert(e.name);
      if (e.name[0] == '.' || ends_with(e.name, kHeadersSuffix) || busy.count(e.name)) continue;
      if (auto s = skipped_.find(e.name); s != skipped_.end()) {
        if (s->second.same_as(e)) continue;
        skipped_.erase(s);  // changed: worth another look
      }
      if (e.directory()) {
        if (reported_directories_.insert(e.name).second) {
          logger("binder.file")->warn("{}: ignoring directory {} in the spool {}", settings_.name, shown(e.name),
                                      path_.string());
        }
        continue;
      }
      if (!e.regular()) {
        set_aside(e, file_type_name(e.type));
        continue;
      }
      if (!finished(e, now)) continue;
      found.push_back(std::move(e));
    }
    std::erase_if(skipped_, [&](const auto& s) { return !present.count(s.first); });
    std::erase_if(quiet_, [&](const auto& q) { return !present.count(q.first); });
    std::erase_if(reported_directories_, [&](const auto& name) { return !present.count(name); });
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return a.mtime_ns != b.mtime_ns ? a.mtime_ns < b.mtime_ns : a.name < b.name;
    });
    pending_ = std::move(found);
  }

  // The rule for a spool file that cannot be a message (a link, FIFO, device, unreadable or
  // too large): it moves, with its headers, into <spool>/.rejected/ and is reported once,
  // so nothing is lost and nothing is retried in a loop. If even that fails (a read-only
  // spool), it stays where it is, reported once and skipped until it changes.
  // Moves spool file `name` and its sidecar into <spool>/.rejected/; returns the name it got
  // there. Throws BindingError if the file cannot be moved.
  std::string move_to_rejected(const std::string& name) {
    const std::string moved_as = dir_->move_into(name, std::string(kRejectedDirectory));
    try {
      dir_->move_into(name + std::string(kHeadersSuffix), std::string(kRejectedDirectory));
    } catch (const BindingError&) {
      // Usually there is no sidecar.
    }
    dir_->sync();
    return moved_as;
  }

  void set_aside(const Directory::Entry& e, const std::string& reason) {
    try {
      const std::string moved_as = move_to_rejected(e.name);
      logger("binder.file")->warn("{}: {} is {}; moved to {}", settings_.name, shown(e.name), reason,
                                  shown(path_ / kRejectedDirectory / moved_as));
    } catch (const BindingError& error) {
      skipped_[e.name] = SkippedFile{e.inode, e.mtime_ns, e.size};
      logger("binder.file")->warn("{}: {} is {}; skipped until it changes ({})", settings_.name, shown(e.name),
                                  reason, error.what());
    }
  }

  // Whether the writer of the spool file `e` is done with it, and with its sidecar if it has
  // one (consumer.ready-check). A file not yet finished stays untouched: inotify's close and
  // move events, or the end of its quiet period, bring the next look.
  bool finished(const Directory::Entry& e, SteadyTime now) {
    if (!quiet_period_only_) {
      std::string why;
      switch (dir_->writers(e.name, &why)) {
        case Directory::Writers::kNone: {
          quiet_.erase(e.name);
          // A sidecar still being written holds its payload back (writers write it first).
          return dir_->writers(e.name + std::string(kHeadersSuffix)) != Directory::Writers::kWriting;
        }
        case Directory::Writers::kWriting:
          quiet_.erase(e.name);
          return false;
        case Directory::Writers::kGone:
        case Directory::Writers::kNotRegular:
          return false;  // the next scan sees what it is now
        case Directory::Writers::kUnknown:
          if (!lease_fallback_reported_) {
            lease_fallback_reported_ = true;
            logger("binder.file")->info(
                "{}: cannot ask the kernel whether {} is still being written ({}); such files are taken once their "
                "size and modification time stayed the same for {} ms (consumer.quiet-period; running with "
                "CAP_LEASE avoids the wait)",
                settings_.name, shown(path_ / e.name), why, quiet_period_.count());
          }
          break;
      }
    }
    auto [watch, first_seen] = quiet_.try_emplace(e.name, QuietWatch{e.inode, e.mtime_ns, e.size, now});
    if (!first_seen && !watch->second.same_as(e)) watch->second = QuietWatch{e.inode, e.mtime_ns, e.size, now};
    const SteadyTime quiet_end = watch->second.unchanged_since + quiet_period_;
    if (now >= quiet_end) return true;
    if (!next_quiet_end_ || quiet_end < *next_quiet_end_) next_quiet_end_ = quiet_end;
    return false;
  }

  // Reads the sidecar of `name`, if any, into `headers`. Returns why the message must be set
  // aside instead (a sidecar nested deeper than kMaxJsonDepth); a sidecar that cannot be read
  // or is not JSON is reported and the payload delivered without it, as before.
  std::optional<std::string> read_headers(const Directory& dir, const std::string& name,
                                          std::map<std::string, std::string>& headers) {
    std::string text;
    const std::string sidecar = name + std::string(kHeadersSuffix);
    const auto result = dir.read(sidecar, kMaxSidecarBytes, text);
    if (result.status == Directory::ReadStatus::kGone) return std::nullopt;
    if (result.status != Directory::ReadStatus::kOk) {
      logger("binder.file")->warn("{}: ignoring the headers of {}: {} is {}", settings_.name, shown(name),
                                  shown(sidecar), result.reason);
      return std::nullopt;
    }
    try {
      for (auto& [key, value] : decode_sidecar(text)) headers[key] = std::move(value);
    } catch (const JsonTooDeep&) {
      return "a file whose headers (" + shown(sidecar) + ") nest deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    } catch (const nlohmann::json::exception& e) {
      logger("binder.file")->warn("{}: ignoring unreadable headers of {}: {}", settings_.name, shown(name), e.what());
    }
    return std::nullopt;
  }

  const config::BindingSettings settings_;
  const fs::path path_;
  const std::size_t max_message_bytes_;
  const Millis quiet_period_;
  bool quiet_period_only_;  // consumer.ready-check: quiet-period, or a network file system
  bool lease_fallback_reported_ = false;
  std::map<std::string, QuietWatch> quiet_;  // files waiting out their quiet period
  std::optional<SteadyTime> next_quiet_end_;  // the earliest of them
  std::unique_ptr<Directory> dir_;  // as opened by the last scan
  int inotify_fd_ = -1;
  std::vector<Directory::Entry> pending_;  // scanned, oldest first
  std::map<unsigned long long, InFlightFile> in_flight_;  // by tag
  std::optional<SpoolClaims> claims_;                      // when the spool is shared (active_active)
  std::deque<std::string> backlog_;                        // claimed, handed back, to be offered again
  SteadyTime next_recovery_{};
  std::map<std::string, SkippedFile> skipped_;
  std::set<std::string> reported_directories_;
  unsigned long long last_tag_ = 0;
};

class FileOutput final : public workflow::OutputBinding {
 public:
  explicit FileOutput(config::BindingSettings s) : settings_(std::move(s)), path_(settings_.destination) {}

  void open() override { ensure_directory(path_, settings_.name); }

  void send(const Message& m, const FencingGate* fence) override {
    std::string name;
    if (auto it = m.headers.find(std::string(kFileNameHeader));
        it != m.headers.end() && is_plain_file_name(it->second)) {
      name = it->second;
    } else {
      // Instances writing into one directory (active_active) each put their name in theirs.
      name = "msg-" + std::to_string(to_epoch_millis(SystemClock::instance().wall_now())) + "-" +
             (settings_.instance_name.empty() ? "" : settings_.instance_name + "-") + std::to_string(++sequence_);
    }
    // Opened anew for each message: a directory replaced meanwhile is written, not the old one.
    const Directory dir(path_);
    if (!m.headers.empty()) {
      dir.write_durably(name + std::string(kHeadersSuffix), encode_sidecar(m.headers), fence);
    }
    dir.write_durably(name, m.payload, fence);
    dir.sync();
  }

  void close() override {}

 private:
  const config::BindingSettings settings_;
  const fs::path path_;
  unsigned long long sequence_ = 0;
};

}  // namespace

std::unique_ptr<workflow::InputBinding> FileBinder::create_input(const config::BindingSettings& s) {
  return std::make_unique<FileInput>(s);
}

std::unique_ptr<workflow::OutputBinding> FileBinder::create_output(const config::BindingSettings& s) {
  return std::make_unique<FileOutput>(s);
}

}  // namespace mi::binders
