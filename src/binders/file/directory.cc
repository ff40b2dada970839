#include "binders/file/directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "workflow/binder.h"

namespace mi::binders {
namespace fs = std::filesystem;
using workflow::BindingError;

namespace {

std::string errno_text(const std::string& what, const fs::path& path) {
  return what + " " + shown(path) + ": " + std::strerror(errno);
}

// Closes a descriptor at the end of a scope.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Errors that say something about the process, not the file: worth a retry later rather than
// setting the file aside.
bool is_process_error(int error) { return error == EMFILE || error == ENFILE || error == ENOMEM; }

std::string unreadable(int error) { return std::string("unreadable (") + std::strerror(error) + ")"; }

}  // namespace

std::string file_type_name(mode_t type) {
  if (S_ISLNK(type)) return "a symbolic link (not followed)";
  if (S_ISFIFO(type)) return "a FIFO";
  if (S_ISSOCK(type)) return "a socket";
  if (S_ISCHR(type) || S_ISBLK(type)) return "a device";
  if (S_ISDIR(type)) return "a directory";
  if (S_ISREG(type)) return "a regular file";
  return "not a regular file";
}

Directory::Directory(const fs::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) throw BindingError(errno_text("cannot open directory", path));
}

Directory::~Directory() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<Directory::Entry> Directory::list() const {
  // fdopendir takes ownership of its descriptor, so it gets its own.
  const int listing_fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing_fd < 0) throw BindingError(errno_text("cannot list", path_));
  DIR* dir = ::fdopendir(listing_fd);
  if (dir == nullptr) {
    const std::string error = errno_text("cannot list", path_);
    ::close(listing_fd);
    throw BindingError(error);
  }
  std::vector<Entry> entries;
  while (const dirent* d = ::readdir(dir)) {
    const std::string name = d->d_name;
    if (name == "." || name == "..") continue;
    Entry e;
    if (!stat(name, e)) continue;  // gone meanwhile
    entries.push_back(std::move(e));
  }
  ::closedir(dir);
  return entries;
}

Directory::ReadResult Directory::read(const std::string& name, std::size_t max_bytes, std::string& out) const {
  // Look before opening: opening a device can have effects of its own.
  struct stat before {};
  if (::fstatat(fd_, name.c_str(), &before, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {ReadStatus::kGone, ""};
    return {ReadStatus::kUnreadable, unreadable(errno)};
  }
  if (!S_ISREG(before.st_mode)) return {ReadStatus::kNotRegular, file_type_name(before.st_mode)};
  // O_NOFOLLOW and O_NONBLOCK: if it was swapped for a link or a FIFO since, neither is
  // followed nor waited on.
  const int fd = ::openat(fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return {ReadStatus::kGone, ""};
    if (error == ELOOP) return {ReadStatus::kNotRegular, file_type_name(S_IFLNK)};
    if (is_process_error(error)) throw BindingError(errno_text("cannot open", path_ / name));
    return {ReadStatus::kUnreadable, unreadable(error)};
  }
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {ReadStatus::kUnreadable, unreadable(errno)};
  if (!S_ISREG(st.st_mode)) return {ReadStatus::kNotRegular, file_type_name(st.st_mode)};
  const auto too_large = [&] {
    return ReadResult{ReadStatus::kTooLarge, "larger than the limit of " + std::to_string(max_bytes) + " bytes"};
  };
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) return too_large();
  out.clear();
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {ReadStatus::kUnreadable, unreadable(errno)};
    if (n == 0) break;
    // It may have grown since fstat: never hold more than the limit.
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) return too_large();
    out.append(buf, static_cast<std::size_t>(n));
  }
  ReadResult done{ReadStatus::kOk, ""};
  if (::fstat(fd, &st) == 0) {
    done.inode = st.st_ino;
    done.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    done.size = st.st_size;
  }
  return done;
}

Directory::Writers Directory::writers(const std::string& name, std::string* why) const {
  // A writer that opens the file while the lease is held breaks it, and the kernel signals
  // the holder with SIGIO, whose default action ends the process. Nothing here uses SIGIO.
  static const bool sigio_ignored = [] {
    struct sigaction current {};
    if (::sigaction(SIGIO, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGIO, SIG_IGN);
    return true;
  }();
  (void)sigio_ignored;
  const int fd = ::openat(fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Writers::kGone;
    if (errno == ELOOP) return Writers::kNotRegular;
    return Writers::kNone;  // what cannot be opened cannot be read either: read() reports it
  }
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return Writers::kNotRegular;
  if (::fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
    ::fcntl(fd, F_SETLEASE, F_UNLCK);
    return Writers::kNone;
  }
  if (errno == EAGAIN) return Writers::kWriting;
  if (why) *why = std::string("no read lease (") + std::strerror(errno) + ")";
  return Writers::kUnknown;
}

bool Directory::stat(const std::string& name, Entry& out) const {
  struct stat st {};
  if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  out.name = name;
  out.type = st.st_mode & S_IFMT;
  out.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  out.inode = st.st_ino;
  out.size = st.st_size;
  return true;
}

bool Directory::on_network_file_system() const {
  // statfs(2) f_type values: NFS, SMB, CIFS, SMB2, FUSE (sshfs...), Ceph, 9P, AFS, OCFS2,
  // GFS2, Lustre.
  static constexpr std::array<unsigned long, 11> kNetworkTypes = {
      0x6969, 0x517B, 0xFF534D42, 0xFE534D42, 0x65735546, 0x00C36400, 0x01021997, 0x5346414F, 0x7461636F,
      0x01161970, 0x0BD00BD0};
  struct statfs fs {};
  if (::fstatfs(fd_, &fs) != 0) return false;
  const auto type = static_cast<unsigned long>(fs.f_type);
  return std::find(kNetworkTypes.begin(), kNetworkTypes.end(), type) != kNetworkTypes.end();
}

void Directory::write_durably(const std::string& name, const std::string& data, const FencingGate* fence) const {
  const std::string tmp = "." + name + ".tmp";
  const auto create = [&] {
    return ::openat(fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  };
  int fd = create();
  if (fd < 0 && errno == EEXIST) {
    // Left by a crash, or planted (a link): remove the entry itself and create afresh.
    ::unlinkat(fd_, tmp.c_str(), 0);
    fd = create();
  }
  if (fd < 0) throw BindingError(errno_text("cannot create", path_ / tmp));
  const auto fail = [&](const std::string& what) {
    const std::string error = errno_text(what, path_ / tmp);
    ::close(fd);
    ::unlinkat(fd_, tmp.c_str(), 0);
    throw BindingError(error);
  };
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write");
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("cannot fsync");
  ::close(fd);
  if (fence && !fence->allows()) {
    ::unlinkat(fd_, tmp.c_str(), 0);
    throw workflow::FencedError("leadership not confirmed; " + name + " not written");
  }
  if (::renameat(fd_, tmp.c_str(), fd_, name.c_str()) != 0) {
    const std::string error = errno_text("cannot rename into place", path_ / name);
    ::unlinkat(fd_, tmp.c_str(), 0);
    throw BindingError(error);
  }
}

bool Directory::remove(const std::string& name) const {
  return ::unlinkat(fd_, name.c_str(), 0) == 0 || errno == ENOENT;
}

std::string Directory::move_into(const std::string& name, const std::string& subdir) const {
  if (::mkdirat(fd_, subdir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw BindingError(errno_text("cannot create", path_ / subdir));
  }
  const int sub = ::openat(fd_, subdir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sub < 0) throw BindingError(errno_text("cannot open", path_ / subdir));
  FdCloser closer{sub};
  for (int n = 0; n < 1000; ++n) {
    const std::string target = n == 0 ? name : name + "." + std::to_string(n);
    // Never replaces what an earlier move put there.
    int rc = ::renameat2(fd_, name.c_str(), sub, target.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno == EINVAL) {  // a file system without RENAME_NOREPLACE
      struct stat st {};
      if (::fstatat(sub, target.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
      rc = ::renameat(fd_, name.c_str(), sub, target.c_str());
    }
    if (rc == 0) {
      ::fsync(sub);
      return target;
    }
    if (errno != EEXIST) throw BindingError(errno_text("cannot move " + name + " into", path_ / subdir));
  }
  throw BindingError("cannot move " + name + " into " + (path_ / subdir).string() + ": too many of that name");
}

std::unique_ptr<Directory> Directory::subdirectory(const std::string& name, bool create) const {
  if (create && ::mkdirat(fd_, name.c_str(), 0700) != 0 && errno != EEXIST) {
    throw BindingError(errno_text("cannot create", path_ / name));
  }
  const int fd = ::openat(fd_, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw BindingError(errno_text("cannot open directory", path_ / name));
  auto sub = std::unique_ptr<Directory>(new Directory());
  sub->path_ = path_ / name;
  sub->fd_ = fd;
  return sub;
}

Directory::MoveResult Directory::move_to(const std::string& name, const Directory& target,
                                         const std::string& target_name) const {
  int rc = ::renameat2(fd_, name.c_str(), target.fd_, target_name.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {  // a file system without RENAME_NOREPLACE
    struct stat st {};
    if (::fstatat(target.fd_, target_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return MoveResult::kTaken;
    rc = ::renameat(fd_, name.c_str(), target.fd_, target_name.c_str());
  }
  if (rc == 0) return MoveResult::kMoved;
  if (errno == ENOENT) return MoveResult::kGone;
  if (errno == EEXIST) return MoveResult::kTaken;
  throw BindingError(errno_text("cannot move " + name + " to", target.path_ / target_name));
}

Directory::Lock::~Lock() { ::close(fd_); }  // closing the last descriptor releases the flock

std::unique_ptr<Directory::Lock> Directory::try_lock(const std::string& name) const {
  const int fd = ::openat(fd_, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw BindingError(errno_text("cannot open lock file", path_ / name));
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return std::make_unique<Lock>(fd);
  const int error = errno;
  ::close(fd);
  if (error == EWOULDBLOCK) return nullptr;
  errno = error;
  throw BindingError(errno_text("cannot lock", path_ / name));
}

void Directory::sync() const {
  if (::fsync(fd_) != 0) throw BindingError(errno_text("cannot fsync directory", path_));
}

}  // namespace mi::binders
