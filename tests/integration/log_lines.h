#pragma once
// Reading the instances' own logs: each line starts with an ISO-8601 timestamp with
// milliseconds and a UTC offset ("2026-11-25T17:56:06.568+00:00 info  [leader] ...").
#include <chrono>
#include <string>
#include <vector>

namespace mi::integration {

// Unix milliseconds of a log line, or -1.
long long log_time_ms(const std::string& line);
// Time of the first line at or after `after_ms` that contains `text`, or -1.
long long first_log_time(const std::string& log, const std::string& text, long long after_ms = 0);
long long now_ms();

// One term of an instance as its log tells it. It starts where the management session opens
// the fencing gate ("management session: flow active ... epoch N"), the first moment the
// instance may send, and ends at the first of "flow inactive" (gate closed) and "state is
// now standby" (workflows stopped); a term still open where the log ends gets
// `end_if_open`. Tests and the fault campaign judge "never two active" on these intervals.
struct ActiveTerm {
  long long from_ms, to_ms;
  long long epoch;       // from the "flow active" line; -1 if it names none
  long long running_ms;  // "state is now active": its workflows started; -1 if not in the term
};
std::vector<ActiveTerm> active_terms(const std::string& log, long long end_if_open);

// Terms of several instances that overlap in time, one description per overlap found
// between a term and the next one to begin (any overlap shows up there); empty if none.
std::vector<std::string> overlapping_terms(std::vector<ActiveTerm> terms);

// Whether the log's last word on the flow is "flow active" (for instances whose API the
// caller cannot reach, e.g. in another network namespace).
bool flow_active_at_end(const std::string& log);

}  // namespace mi::integration
