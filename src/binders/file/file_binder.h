#pragma once
// The `file` binder, which needs no broker.
//
// Input: a spool directory. Each regular file is one message, oldest first. A file leaves
// the spool only when the output has durably stored its message, so a crash loses nothing
// (the file is delivered again), and only if it is still the file that was read. A file is
// taken once its writer is done with it: no process holds it open for writing (asked of the
// kernel with a read lease), or, where the kernel cannot say, its size and modification time
// stayed the same for consumer.quiet-period. Names starting with `.` are ignored. Links are never followed: a symbolic link, FIFO,
// socket or device, a file that cannot be read or one larger than consumer.max-message-size
// is moved into `<spool>/.rejected/` (with one warning) instead; subdirectories are ignored.
// In active_active several instances share one spool: each file is first claimed by a rename
// into the instance's own claim directory (spool_claims.h), so exactly one instance reads it.
//
// Output: a directory. The payload goes to `<name>` byte for byte and the headers, if any,
// to `<name>.headers.json` beside it; both are written to a hidden temporary file created
// afresh, fsynced and renamed, the sidecar first, so a link in the directory is replaced and
// never written through. <name> is the message's `file_name` header when it is a plain file
// name, else `msg-<epoch ms>-<sequence>`. An input that finds a sidecar next to
// a payload reads the headers from it, so file-to-file chains keep them.
#include "workflow/binder.h"

namespace mi::binders {

class FileBinder final : public workflow::Binder {
 public:
  std::string type() const override { return "file"; }
  std::unique_ptr<workflow::InputBinding> create_input(const config::BindingSettings& s) override;
  std::unique_ptr<workflow::OutputBinding> create_output(const config::BindingSettings& s) override;
};

inline constexpr std::string_view kHeadersSuffix = ".headers.json";
inline constexpr std::string_view kFileNameHeader = "file_name";

}  // namespace mi::binders
