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
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/logging.h"

namespace mi::binders {
namespace fs = std::filesystem;
using workflow::BindingError;
using workflow::Delivery;
using workflow::Message;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string errno_text(const std::string& what, const fs::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
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

void fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw BindingError(errno_text("cannot open directory", dir));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw BindingError(errno_text("cannot fsync directory", dir));
}

// Writes `data` to `dir/name` so that it is either absent or complete, even after a crash.
// The rename is the moment it becomes visible; `fence` is checked just before it.
void write_durably(const fs::path& dir, const std::string& name, const std::string& data,
                   const FencingGate* fence) {
  const fs::path tmp = dir / ("." + name + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw BindingError(errno_text("cannot create", tmp));
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string error = errno_text("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw BindingError(error);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string error = errno_text("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw BindingError(error);
  }
  ::close(fd);
  if (fence && !fence->allows(std::chrono::steady_clock::now())) {
    ::unlink(tmp.c_str());
    throw workflow::FencedError("leadership not confirmed; " + name + " not written");
  }
  if (::rename(tmp.c_str(), (dir / name).c_str()) != 0) {
    const std::string error = errno_text("cannot rename into place", dir / name);
    ::unlink(tmp.c_str());
    throw BindingError(error);
  }
}

bool read_file(const fs::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return false;
  out = buf.str();
  return true;
}

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name.size() < 200 && name[0] != '.' &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos &&
         !ends_with(name, kHeadersSuffix);
}

class FileInput final : public workflow::InputBinding {
 public:
  explicit FileInput(config::BindingSettings s) : settings_(std::move(s)), dir_(settings_.destination) {}
  ~FileInput() override { close(); }

  void open() override {
    ensure_directory(dir_, settings_.name);
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) throw BindingError(errno_text("inotify_init1 failed for", dir_));
    if (inotify_add_watch(inotify_fd_, dir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
      throw BindingError(errno_text("cannot watch", dir_));
    }
  }

  std::optional<Delivery> receive(Millis timeout) override {
    if (pending_.empty()) scan();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pending_.empty()) {
      // Sleep until something lands in the spool (or the deadline), then look again.
      const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{inotify_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) > 0) {
        char buf[4096];
        while (::read(inotify_fd_, buf, sizeof buf) > 0) {
        }
      }
      scan();
    }
    while (!pending_.empty()) {
      const std::string name = pending_.front();
      pending_.erase(pending_.begin());
      Delivery d;
      if (!read_file(dir_ / name, d.message.payload)) continue;  // vanished meanwhile
      read_headers(name, d.message.headers);
      d.message.headers[std::string(kFileNameHeader)] = name;
      d.tag = ++last_tag_;
      in_flight_[d.tag] = name;
      return d;
    }
    return std::nullopt;
  }

  void ack(const Delivery& d) override {
    auto it = in_flight_.find(d.tag);
    if (it == in_flight_.end()) return;
    const fs::path payload = dir_ / it->second;
    ::unlink((dir_ / (it->second + std::string(kHeadersSuffix))).c_str());
    if (::unlink(payload.c_str()) != 0 && errno != ENOENT) {
      in_flight_.erase(it);
      throw BindingError(errno_text("cannot remove delivered file", payload));
    }
    in_flight_.erase(it);
    fsync_directory(dir_);
  }

  void reject(const Delivery& d) override { in_flight_.erase(d.tag); }

  void close() override {
    if (inotify_fd_ >= 0) ::close(inotify_fd_);
    inotify_fd_ = -1;
  }

 private:
  void scan() {
    std::vector<std::pair<fs::file_time_type, std::string>> found;
    std::error_code ec;
    std::set<std::string> busy;
    for (const auto& [tag, name] : in_flight_) busy.insert(name);
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.' || ends_with(name, kHeadersSuffix) || busy.count(name)) continue;
      std::error_code entry_ec;
      if (!it->is_regular_file(entry_ec)) continue;
      found.emplace_back(it->last_write_time(entry_ec), name);
    }
    if (ec) logger("binder.file")->warn("{}: cannot list {}: {}", settings_.name, dir_.string(), ec.message());
    std::sort(found.begin(), found.end());
    pending_.clear();
    for (auto& [time, name] : found) pending_.push_back(std::move(name));
  }

  void read_headers(const std::string& name, std::map<std::string, std::string>& headers) {
    std::string text;
    if (!read_file(dir_ / (name + std::string(kHeadersSuffix)), text)) return;
    try {
      const auto json = nlohmann::json::parse(text);
      for (const auto& [key, value] : json.items()) {
        headers[key] = value.is_string() ? value.get<std::string>() : value.dump();
      }
    } catch (const nlohmann::json::exception& e) {
      logger("binder.file")->warn("{}: ignoring unreadable headers of {}: {}", settings_.name, name, e.what());
    }
  }

  const config::BindingSettings settings_;
  const fs::path dir_;
  int inotify_fd_ = -1;
  std::vector<std::string> pending_;  // scanned, oldest first
  std::map<unsigned long long, std::string> in_flight_;
  unsigned long long last_tag_ = 0;
};

class FileOutput final : public workflow::OutputBinding {
 public:
  explicit FileOutput(config::BindingSettings s) : settings_(std::move(s)), dir_(settings_.destination) {}

  void open() override { ensure_directory(dir_, settings_.name); }

  void send(const Message& m, const FencingGate* fence) override {
    std::string name;
    if (auto it = m.headers.find(std::string(kFileNameHeader));
        it != m.headers.end() && is_plain_file_name(it->second)) {
      name = it->second;
    } else {
      name = "msg-" + std::to_string(to_epoch_millis(std::chrono::system_clock::now())) + "-" +
             std::to_string(++sequence_);
    }
    if (!m.headers.empty()) {
      nlohmann::json headers = nlohmann::json::object();
      for (const auto& [key, value] : m.headers) headers[key] = value;
      // Invalid UTF-8 in a header is replaced rather than failing the message.
      write_durably(dir_, name + std::string(kHeadersSuffix),
                    headers.dump(2, ' ', false, nlohmann::json::error_handler_t::replace), fence);
    }
    write_durably(dir_, name, m.payload, fence);
    fsync_directory(dir_);
  }

  void close() override {}

 private:
  const config::BindingSettings settings_;
  const fs::path dir_;
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
