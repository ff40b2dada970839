#pragma once
// This process's resource use, from /proc and getrusage.
namespace mi::management {

struct ProcessStats {
  double cpu_seconds = 0;           // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
};

ProcessStats read_process_stats();

}  // namespace mi::management
