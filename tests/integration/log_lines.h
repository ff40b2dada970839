#pragma once
// Reading the instances' own logs: each line starts with an ISO-8601 timestamp with
// milliseconds and a UTC offset ("2026-11-25T17:56:06.568+00:00 info  [leader] ...").
#include <chrono>
#include <string>

namespace mi::integration {

// Unix milliseconds of a log line, or -1.
long long log_time_ms(const std::string& line);
// Time of the first line at or after `after_ms` that contains `text`, or -1.
long long first_log_time(const std::string& log, const std::string& text, long long after_ms = 0);
long long now_ms();

}  // namespace mi::integration
