#pragma once
// A directory of the file binder, opened once per scan or write. Every entry inside is reached
// relative to that descriptor by a plain name and never through a symbolic link, so a link,
// FIFO or device dropped into a spool cannot make the binder read or write anything outside
// it (the configured directory itself may be reached through links: that is the operator's
// choice). Opening it anew for each operation also notices a directory that was replaced.
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/fencing_gate.h"
#include "common/printable.h"

namespace mi::binders {

// A spool file's name or path on its way into a log line or an error. Whoever writes the
// spool picks the names: a newline or an escape sequence in one is shown as \xNN, so a name
// cannot forge log lines (common/printable.h). Long enough for any path.
inline std::string shown(const std::filesystem::path& path) { return printable(path.string(), 8192); }

// "a symbolic link (not followed)", "a FIFO", ... for the log.
std::string file_type_name(mode_t type);

class Directory {
 public:
  // Throws workflow::BindingError if `path` is not a directory that can be opened.
  explicit Directory(const std::filesystem::path& path);
  ~Directory();
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  const std::filesystem::path& path() const { return path_; }

  struct Entry {
    std::string name;
    mode_t type = 0;  // of the entry itself (S_IFLNK for a link): st_mode & S_IFMT
    bool regular() const { return S_ISREG(type); }
    bool directory() const { return S_ISDIR(type); }
    std::int64_t mtime_ns = 0;
    ino_t inode = 0;
    off_t size = 0;
  };
  // Every entry but `.` and `..`, as lstat sees it. Throws BindingError if it cannot list.
  std::vector<Entry> list() const;

  enum class ReadStatus {
    kOk,
    kGone,        // removed meanwhile
    kNotRegular,  // a symbolic link, FIFO, socket, device or directory
    kTooLarge,    // more than max_bytes
    kUnreadable,  // no permission, or an I/O error on the file
  };
  struct ReadResult {
    ReadStatus status = ReadStatus::kOk;
    std::string reason;  // for the log when not kOk
    // With kOk: the file as it was when the read ended, to tell later whether it has changed.
    ino_t inode = 0;
    std::int64_t mtime_ns = 0;
    off_t size = 0;
  };
  // Reads the regular file `name` whole, at most max_bytes of it. A FIFO is never waited on.
  // Throws BindingError for errors of the process rather than of the file (out of descriptors).
  ReadResult read(const std::string& name, std::size_t max_bytes, std::string& out) const;

  enum class Writers {
    kNone,       // no process has it open for writing
    kWriting,    // some process has it open for writing
    kUnknown,    // the kernel would not say (see below)
    kGone,       // no longer here
    kNotRegular,
  };
  // Whether a process has the regular file `name` open for writing, as the kernel knows it: a
  // read lease (fcntl F_SETLEASE F_RDLCK) is refused with EAGAIN while any descriptor of the
  // file is open for writing; taken, it is given back at once. kUnknown where leases cannot be
  // taken: a file of another owner without CAP_LEASE (EACCES), a file system without leases.
  // A lease sees only writers on this host: on a network file system use the quiet period.
  // `why` gets the reason for kUnknown.
  Writers writers(const std::string& name, std::string* why = nullptr) const;

  // The entry `name` as lstat sees it now; false if it is gone.
  bool stat(const std::string& name, Entry& out) const;

  // True when the directory lies on a network or FUSE file system (NFS, SMB/CIFS, FUSE...),
  // where writers on other hosts hold no lease on this one.
  bool on_network_file_system() const;

  // Makes `name` hold `data`, either completely or not at all, even after a crash: written to
  // a hidden temporary file created afresh (O_EXCL, no link followed), fsynced, then renamed
  // over `name` (which replaces a link rather than writing through it). `fence` is checked
  // just before the rename. Throws BindingError, or FencedError when the fence is closed.
  void write_durably(const std::string& name, const std::string& data, const FencingGate* fence) const;

  // Removes `name` (a link itself, never its target). False with errno set if that failed for
  // another reason than its absence.
  bool remove(const std::string& name) const;

  // Moves `name` into the subdirectory `subdir` (created 0700 if missing, never a link), under
  // the same name or, when that is taken, `name.<n>`. Returns the name it got there; throws
  // BindingError if it could not be moved.
  std::string move_into(const std::string& name, const std::string& subdir) const;

  // fsync of the directory itself, so renames and removals survive a crash.
  void sync() const;

  // The subdirectory `name` (never through a link), created 0700 when `create` and missing.
  // Throws BindingError.
  std::unique_ptr<Directory> subdirectory(const std::string& name, bool create) const;

  enum class MoveResult { kMoved, kGone, kTaken };
  // Renames `name` to `target_name` in `target` (may be this directory) without replacing
  // anything: kGone if `name` is no longer here (someone else moved it first), kTaken if
  // `target_name` exists. Throws BindingError for any other failure.
  MoveResult move_to(const std::string& name, const Directory& target, const std::string& target_name) const;

  // An exclusive flock(2) on the file `name` (created 0600 if missing, never through a
  // link), held until the object is destroyed; the kernel drops it when the process dies.
  class Lock {
   public:
    explicit Lock(int fd) : fd_(fd) {}
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    int fd_;
  };
  // Nothing if another open file holds the lock. Throws BindingError if it cannot try.
  std::unique_ptr<Lock> try_lock(const std::string& name) const;

 private:
  Directory() = default;  // for subdirectory()

  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace mi::binders
