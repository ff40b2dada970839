// Hostile input against the real binary: what a hostile tester tried (issue 15's table, one
// test per row, named by the row) and the safe outcome each must have.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "instance.h"

namespace mi::integration {
namespace {
namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;

// Resident memory high-water mark of a process, in MiB.
long peak_resident_mib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) / 1024;
  }
  return -1;
}

// CPU time (user + system) a process has used, in ms.
long cpu_time_ms(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stol(field);
  }
  return ticks * 1000 / sysconf(_SC_CLK_TCK);
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class HostileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::make_unique<TempDir>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(inbox());
    fs::create_directories(outbox());
  }
  void TearDown() override {
    if (HasFailure() && instance) std::cerr << "instance log:\n" << instance->process().log();
  }
  void start(const std::vector<std::string>& launcher = {}) {
    port = free_port();
    instance = std::make_unique<Instance>(dir->path(), standalone_config(port), port,
                                          std::vector<std::string>{}, launcher);
  }
  fs::path inbox() const { return dir->path() / "inbox"; }
  fs::path outbox() const { return dir->path() / "outbox"; }
  // A plain file dropped after the hostile ones: once it is through, they were seen.
  void drop_marker_and_wait() {
    write_file(inbox() / ".marker", "marker");
    fs::rename(inbox() / ".marker", inbox() / "marker");
    ASSERT_TRUE(eventually([&] { return fs::exists(outbox() / "marker"); }));
  }

  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Instance> instance;
  int port = 0;
};

// Row 1: a link in the spool to a secret file, and to the service's own environment.
TEST_F(HostileFiles, Row1ALinkInTheSpoolCopiesNothingFromOutsideIt) {
  write_file(dir->path() / "shadow", "root:$6$secret-hash:19000:0:99999:7:::\n");
  fs::permissions(dir->path() / "shadow", fs::perms::owner_read | fs::perms::owner_write);
  start();
  fs::create_symlink(dir->path() / "shadow", inbox() / "x");
  fs::create_symlink("/proc/self/environ", inbox() / "env");
  drop_marker_and_wait();
  EXPECT_FALSE(fs::exists(fs::symlink_status(outbox() / "x")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(outbox() / "env")));
  EXPECT_TRUE(eventually([&] {
    return fs::is_symlink(inbox() / ".rejected" / "x") && fs::is_symlink(inbox() / ".rejected" / "env");
  }));
  EXPECT_EQ(count_of(instance->process().log(), "is a symbolic link (not followed); moved to"), 2);
}

// Row 2: a link planted where the output writes its temporary file.
TEST_F(HostileFiles, Row2ALinkPlantedInTheOutputDirectoryIsReplacedNotWrittenThrough) {
  write_file(dir->path() / "victim", "precious");
  fs::permissions(dir->path() / "victim", fs::perms::owner_read | fs::perms::owner_write);
  fs::create_symlink(dir->path() / "victim", outbox() / ".evil.tmp");
  start();
  write_file(inbox() / ".evil", "payload");
  fs::rename(inbox() / ".evil", inbox() / "evil");
  ASSERT_TRUE(eventually([&] { return fs::exists(outbox() / "evil"); }));
  EXPECT_EQ(read_file(dir->path() / "victim"), "precious");
  EXPECT_EQ(read_file(outbox() / "evil"), "payload");
  EXPECT_FALSE(fs::is_symlink(outbox() / "evil"));
}

// Row 5: a file the service's user cannot read, as an unprivileged user.
TEST_F(HostileFiles, Row5AnUnreadableFileIsReportedOnceAndSetAsideWithoutSpinning) {
  std::vector<std::string> launcher;
  if (::getuid() == 0) {
    // Root reads everything: run the service as nobody, the file stays root's.
    for (const auto& entry : fs::recursive_directory_iterator(dir->path())) {
      ASSERT_EQ(::lchown(entry.path().c_str(), kNobody, kNobody), 0);
    }
    ASSERT_EQ(::chown(dir->path().c_str(), kNobody, kNobody), 0);
    launcher = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  }
  start(launcher);
  write_file(dir->path() / "locked", "not for the service");
  fs::permissions(dir->path() / "locked", fs::perms::none);
  fs::rename(dir->path() / "locked", inbox() / "locked");
  ASSERT_TRUE(eventually([&] { return fs::exists(inbox() / ".rejected" / "locked"); }));
  // Then a quiet spool costs nothing: no retry loop on the file.
  const long cpu_before = cpu_time_ms(instance->process().pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_LT(cpu_time_ms(instance->process().pid()) - cpu_before, 500);
  EXPECT_EQ(count_of(instance->process().log(), "locked is unreadable (Permission denied); moved to"), 1);
}

// Row 6: a 1 GiB (sparse) file in the spool.
TEST_F(HostileFiles, Row6AFileOverTheSizeLimitIsSetAsideWithoutReadingIt) {
  start();
  { std::ofstream(dir->path() / "huge"); }
  fs::resize_file(dir->path() / "huge", 1ull << 30);
  fs::rename(dir->path() / "huge", inbox() / "huge");
  drop_marker_and_wait();
  EXPECT_TRUE(eventually([&] { return fs::exists(inbox() / ".rejected" / "huge"); }));
  EXPECT_FALSE(fs::exists(outbox() / "huge"));
  EXPECT_LT(peak_resident_mib(instance->process().pid()), 100);
  EXPECT_EQ(count_of(instance->process().log(), "huge is larger than the limit of 16777216 bytes; moved to"), 1);
}

}  // namespace
}  // namespace mi::integration
