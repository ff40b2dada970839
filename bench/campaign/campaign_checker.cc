#include "campaign_checker.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "tests/integration/log_lines.h"

namespace mi::campaign {

namespace {

// Cross-checks the broker's samples against the logs' intervals.
void check_broker_view(const CampaignHistory& h, CheckReport& r) {
  for (const auto& s : h.samples) {
    if (s.active.size() > 1) {
      ++r.disagreements;  // the broker itself would be broken
      r.findings.push_back(fmt::format("broker shows {} active consumers of the management queue during {}..{}",
                                  s.active.size(), s.from_ms, s.to_ms));
    }
    if (s.active.empty()) continue;
    ++r.samples_with_active;
    const pid_t broker_active = *s.active.begin();
    for (const auto& iv : r.intervals) {
      const Life& life = h.lives[iv.life];
      // Only an interval that covers the whole sample must match it: the broker may be a
      // moment ahead of or behind the log at either end of a term.
      if (life.pid == broker_active || iv.from_ms > s.from_ms || iv.to_ms < s.to_ms) continue;
      ++r.disagreements;
      r.findings.push_back(fmt::format("broker disagrees: node {} claims active (epoch {}) during {}..{}, the broker's "
                                  "active consumer is pid {}",
                                  life.node, iv.epoch, s.from_ms, s.to_ms, broker_active));
    }
  }
}

// From the broker's samples: stretches in which an instance that had been running for a while
// was not a consumer of the management queue at all.
void check_standbys_bound(const CampaignHistory& h, CheckReport& r) {
  constexpr long long kStartUp = 5'000;  // time a new process has to bind
  std::map<size_t, long long> unbound_since;  // life -> from_ms of the first sample missing it
  std::set<size_t> reported;                  // lives whose current stretch is reported
  for (const auto& s : h.samples) {
    for (size_t l = 0; l < h.lives.size(); ++l) {
      const Life& life = h.lives[l];
      const bool running = life.started_ms + kStartUp <= s.from_ms && (life.ended_ms < 0 || life.ended_ms > s.to_ms);
      if (!running || s.bound.count(life.pid)) {
        unbound_since.erase(l);
        reported.erase(l);
        continue;
      }
      const long long since = unbound_since.emplace(l, s.from_ms).first->second;
      if (s.to_ms - since <= h.unbound_limit_ms || !reported.insert(l).second) continue;
      ++r.unbound_stretches;
      r.findings.push_back(fmt::format("node {} (pid {}) was not bound to the management queue for over {} s from {}",
                                       life.node, life.pid, h.unbound_limit_ms / 1000, since));
    }
  }
}

void check_overlaps(const CampaignHistory& h, CheckReport& r) {
  const auto& ivs = r.intervals;
  for (size_t a = 0; a < ivs.size(); ++a) {
    for (size_t b = a + 1; b < ivs.size(); ++b) {
      const int node_a = h.lives[ivs[a].life].node, node_b = h.lives[ivs[b].life].node;
      if (node_a == node_b) continue;
      const long long from = std::max(ivs[a].from_ms, ivs[b].from_ms);
      const long long to = std::min(ivs[a].to_ms, ivs[b].to_ms);
      if (to <= from) continue;
      ++r.overlaps;
      r.overlap_ms += to - from;
      r.findings.push_back(fmt::format("overlap (logs): node {} epoch {} and node {} epoch {} for {} ms", node_a,
                                  ivs[a].epoch, node_b, ivs[b].epoch, to - from));
    }
  }
}

void check_messages(const CampaignHistory& h, CheckReport& r) {
  std::set<std::string> distinct;
  constexpr int kNamedStale = 10;  // name the first few, count them all
  for (size_t i = 0; i < h.arrivals.size(); ++i) {
    const Arrival& a = h.arrivals[i];
    const bool seen_before = !distinct.insert(a.body).second;
    if (seen_before && a.redelivered) {
      // The queue handing the checker a message again says nothing about the instances:
      // an instance's late publication is a new message to the queue, never flagged.
      ++r.redelivered_to_checker;
      continue;
    }
    if (seen_before) ++r.duplicates;
    if (a.epoch <= 0) ++r.unstamped;
    if (a.epoch < r.max_epoch && r.older_epoch_after_newer++ < kNamedStale) {
      const std::string when =
          a.at_ms > 0 && !h.lives.empty()
              ? fmt::format(" at +{:.1f} s", static_cast<double>(a.at_ms - h.lives.front().started_ms) / 1000.0)
              : "";
      r.findings.push_back(fmt::format("arrival {}{} '{}' carries epoch {} after epoch {}{}", i, when, a.body, a.epoch,
                                       r.max_epoch, seen_before ? " (a second copy: it had arrived before)" : ""));
    }
    r.max_epoch = std::max(r.max_epoch, a.epoch);
  }
  for (long long i = 0; i < h.confirmed; ++i) {
    if (!distinct.count("s" + std::to_string(i))) ++r.lost;
  }
  if (r.unstamped) r.findings.push_back(fmt::format("{} messages arrived without an x-leader-epoch header", r.unstamped));
  if (r.older_epoch_after_newer)
    r.findings.push_back(fmt::format("{} messages arrived with an older epoch after a newer one", r.older_epoch_after_newer));
  if (r.lost) r.findings.push_back(fmt::format("{} confirmed messages never arrived", r.lost));
}

void measure_failovers(const CampaignHistory& h, CheckReport& r) {
  for (size_t i = 0; i < h.faults.size(); ++i) {
    const FaultRecord& f = h.faults[i];
    long long next = -1;
    for (const auto& iv : r.intervals) {
      if (iv.running_ms >= f.at_ms && (next < 0 || iv.running_ms < next)) next = iv.running_ms;
    }
    const long long until = i + 1 < h.faults.size() ? h.faults[i + 1].at_ms : h.end_ms;
    r.failover_ms.push_back(next >= 0 && next < until ? next - f.at_ms : -1);
  }
}

}  // namespace

std::vector<ActiveInterval> active_intervals(const CampaignHistory& h) {
  std::vector<ActiveInterval> intervals;
  for (size_t l = 0; l < h.lives.size(); ++l) {
    const Life& life = h.lives[l];
    for (const auto& term : integration::active_terms(life.log, life.ended_ms >= 0 ? life.ended_ms : h.end_ms)) {
      intervals.push_back({l, term.from_ms, term.to_ms, term.epoch, term.running_ms});
    }
  }
  // A process frozen for longer than its lease cannot act from freeze + lease on, but its log
  // says so only after SIGCONT. A shorter freeze does not end the term (the instance renews
  // its lease on resuming), and if it did, the log's "flow inactive" on resuming comes later
  // than the real end: an interval too long, never one too short to show an overlap.
  for (auto& iv : intervals) {
    for (const auto& f : h.faults) {
      if (freeze_ms(f.planned.type) <= h.lease_ms || f.target != h.lives[iv.life].node) continue;
      if (iv.from_ms < f.at_ms && iv.to_ms > f.at_ms + h.lease_ms) iv.to_ms = f.at_ms + h.lease_ms;
    }
  }
  return intervals;
}

CheckReport check(const CampaignHistory& history) {
  CheckReport report;
  report.intervals = active_intervals(history);
  check_overlaps(history, report);
  check_broker_view(history, report);
  check_standbys_bound(history, report);
  check_messages(history, report);
  measure_failovers(history, report);
  return report;
}

void print_report(const CampaignHistory& h, const CheckReport& r, bool trace, std::FILE* out) {
  const long long start = h.lives.empty() ? 0 : h.lives.front().started_ms;
  const auto seconds = [&](long long ms) { return static_cast<double>(ms - start) / 1000.0; };
  std::fprintf(out, "active intervals (node:epoch from..to, s since start):");
  for (const auto& iv : r.intervals)
    std::fprintf(out, " %d:%lld %.1f..%.1f", h.lives[iv.life].node, iv.epoch, seconds(iv.from_ms), seconds(iv.to_ms));
  std::fprintf(out, "\nepochs in arrival order (epoch x messages):");
  for (size_t i = 0, run = 0; i < h.arrivals.size(); ++i) {
    ++run;
    if (i + 1 == h.arrivals.size() || h.arrivals[i + 1].epoch != h.arrivals[i].epoch) {
      std::fprintf(out, " %lldx%zu", h.arrivals[i].epoch, run);
      run = 0;
    }
  }
  std::fprintf(out, "\n\nfailover times (fault -> next instance logging \"state is now active\"):\n");
  std::map<std::string, std::vector<long long>> by_type;
  for (size_t i = 0; i < h.faults.size(); ++i) {
    const FaultRecord& f = h.faults[i];
    const long long ms = r.failover_ms[i];
    std::string type(name(f.planned.type));
    if (targets_an_instance(f.planned.type) && !f.planned.on_active) type += " (standby)";
    if (ms < 0) type += " (no change of leader)";
    by_type[type].push_back(ms);
    if (!trace || ms < 0) continue;
    std::fprintf(out, "-- fault %zu %s at %lld: log lines until the takeover\n", i + 1, type.c_str(), f.at_ms);
    for (const auto& life : h.lives) {
      std::istringstream lines(life.log);
      std::string line;
      while (std::getline(lines, line)) {
        const long long t = integration::log_time_ms(line);
        if (t >= f.at_ms - 200 && t <= f.at_ms + ms)
          std::fprintf(out, "   node %d pid %d: %s\n", life.node, static_cast<int>(life.pid), line.c_str());
      }
    }
  }
  for (auto& [type, v] : by_type) {
    std::sort(v.begin(), v.end());
    std::fprintf(out, "  %-50s n=%zu", type.c_str(), v.size());
    if (v.front() >= 0) std::fprintf(out, " min=%lld p50=%lld max=%lld ms", v.front(), v[v.size() / 2], v.back());
    std::fprintf(out, "\n");
  }
  std::fprintf(out, "\nchecker (independent of the instances' own reports):\n");
  for (const auto& finding : r.findings) std::fprintf(out, "  %s\n", finding.c_str());
  std::fprintf(out, "  active intervals from logs: %zu over %zu processes; overlaps: %d (%lld ms)\n", r.intervals.size(),
               h.lives.size(), r.overlaps, r.overlap_ms);
  std::fprintf(out, "  broker samples with an active consumer: %zu; disagreements with the logs: %d; "
               "instances unbound for over %lld s: %d\n",
               r.samples_with_active, r.disagreements, h.unbound_limit_ms / 1000, r.unbound_stretches);
  std::fprintf(out,
               "  messages: %lld confirmed to the producer, %zu arrivals, lost %lld, duplicates %lld "
               "(and %lld re-read by the checker), older epoch after newer: %d, unstamped: %d, "
               "epochs seen up to %lld\n",
               h.confirmed, h.arrivals.size(), r.lost, r.duplicates, r.redelivered_to_checker,
               r.older_epoch_after_newer, r.unstamped, r.max_epoch);
}

}  // namespace mi::campaign
