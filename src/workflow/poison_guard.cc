#include "workflow/poison_guard.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mi::workflow {
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

void fnv(std::uint64_t& hash, std::string_view bytes) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  // The length too, so that ("ab", "c") and ("a", "bc") differ.
  const std::string size = std::to_string(bytes.size()) + ";";
  for (const char c : size) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
}

std::string errno_text(const std::string& what, const fs::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

}  // namespace

PoisonGuard::PoisonGuard(fs::path directory, std::string name, int max_crashes)
    : directory_(std::move(directory)), name_(std::move(name)), max_crashes_(max_crashes) {}

PoisonGuard::~PoisonGuard() {
  if (in_hand_fd_ >= 0) ::close(in_hand_fd_);
}

std::uint64_t PoisonGuard::fingerprint(const Message& message) {
  std::uint64_t hash = kFnvOffset;
  fnv(hash, message.payload);
  for (const char* header : {"message-id", "correlation-id", "file_name"}) {
    auto it = message.headers.find(header);
    fnv(hash, it == message.headers.end() ? std::string_view() : std::string_view(it->second));
  }
  return hash;
}

int PoisonGuard::open() {
  if (!enabled() || in_hand_fd_ >= 0) return 0;
  std::error_code ec;
  fs::create_directories(directory_, ec);
  if (ec) throw std::runtime_error("cannot create " + directory_.string() + ": " + ec.message());
  // Counts of earlier deaths, then the messages the last run died holding.
  {
    std::ifstream in(directory_ / (name_ + ".crashes"));
    std::uint64_t fingerprint = 0;
    int count = 0;
    while (in >> std::hex >> fingerprint >> std::dec >> count) {
      if (count > 0) crashes_[fingerprint] = count;
    }
  }
  int in_hand = 0;
  {
    std::ifstream in(directory_ / (name_ + ".in-hand"));
    std::uint64_t fingerprint = 0;
    while (in >> std::hex >> fingerprint) {
      ++crashes_[fingerprint];
      ++in_hand;
    }
  }
  bool counted = in_hand > 0;
  if (crashes_.size() > kMaxRemembered) {
    // Counts of messages that never came back (taken by another instance, removed by hand)
    // would pile up: keep those closest to being set aside.
    std::vector<std::pair<int, std::uint64_t>> by_count;
    for (const auto& [fingerprint, count] : crashes_) by_count.emplace_back(count, fingerprint);
    std::sort(by_count.begin(), by_count.end(), std::greater<>());
    by_count.resize(kMaxRemembered);
    crashes_.clear();
    for (const auto& [count, fingerprint] : by_count) crashes_[fingerprint] = count;
    counted = true;
  }
  if (counted) save_crashes();
  const fs::path in_hand_path = directory_ / (name_ + ".in-hand");
  in_hand_fd_ = ::open(in_hand_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (in_hand_fd_ < 0) throw std::runtime_error(errno_text("cannot open", in_hand_path));
  in_hand_empty_ = true;
  return in_hand;
}

int PoisonGuard::crashes(std::uint64_t fingerprint) const {
  auto it = crashes_.find(fingerprint);
  return it == crashes_.end() ? 0 : it->second;
}

void PoisonGuard::taking(const std::vector<std::uint64_t>& fingerprints) {
  if (in_hand_fd_ < 0 || fingerprints.empty()) return;
  std::ostringstream text;
  for (const auto f : fingerprints) text << std::hex << f << '\n';
  const std::string bytes = text.str();
  // One write at offset 0 of an emptied file: what a crash leaves is this batch alone.
  if (::ftruncate(in_hand_fd_, 0) != 0 ||
      ::pwrite(in_hand_fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    throw std::runtime_error(errno_text("cannot record the messages in hand in", directory_ / (name_ + ".in-hand")));
  }
  in_hand_empty_ = false;
}

void PoisonGuard::settled() {
  if (in_hand_fd_ < 0 || in_hand_empty_) return;
  if (::ftruncate(in_hand_fd_, 0) == 0) in_hand_empty_ = true;
}

void PoisonGuard::forget(std::uint64_t fingerprint) {
  if (crashes_.erase(fingerprint) > 0) save_crashes();
}

void PoisonGuard::save_crashes() {
  const fs::path target = directory_ / (name_ + ".crashes");
  const fs::path temporary = directory_ / (name_ + ".crashes.tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    for (const auto& [fingerprint, count] : crashes_) out << std::hex << fingerprint << ' ' << std::dec << count << '\n';
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + temporary.string());
  }
  std::error_code ec;
  fs::rename(temporary, target, ec);
  if (ec) throw std::runtime_error("cannot write " + target.string() + ": " + ec.message());
}

}  // namespace mi::workflow
