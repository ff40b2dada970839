#include "binders/file/file_binder.h"
#include "binders/file/directory.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "workflow/workflow.h"

namespace mi::binders {
namespace {
namespace fs = std::filesystem;

class FileBinderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() /
           ("mi-file-binder-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root / "in");
  }
  void TearDown() override { fs::remove_all(root); }

  config::BindingSettings binding(const std::string& name, const std::string& sub) {
    return {name, (root / sub).string(), "file", "file", {}, {}};
  }
  static void write(const fs::path& p, const std::string& data) {
    std::ofstream(p, std::ios::binary) << data;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  config::BindingSettings input_binding(std::size_t max_message_size = 0) {
    auto b = binding("input-0", "in");
    if (max_message_size) b.options["consumer.maxmessagesize"] = std::to_string(max_message_size);
    return b;
  }
  static std::chrono::milliseconds thread_cpu_time() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return std::chrono::milliseconds(u.ru_utime.tv_sec * 1000 + u.ru_utime.tv_usec / 1000 + u.ru_stime.tv_sec * 1000 +
                                     u.ru_stime.tv_usec / 1000);
  }

  fs::path root;
  FileBinder binder;
};

TEST_F(FileBinderTest, InputDeliversOldestFirstIgnoresHiddenFilesAndKeepsUntilAck) {
  write(root / "in" / "first", "1");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write(root / "in" / "second", "2");
  write(root / "in" / ".being-written", "x");
  auto input = binder.create_input(binding("input-0", "in"));
  input->open();
  auto a = input->receive(Millis{10});
  auto b = input->receive(Millis{10});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->message.payload, "1");
  EXPECT_EQ(a->message.headers.at("file_name"), "first");
  EXPECT_EQ(b->message.payload, "2");
  EXPECT_FALSE(input->receive(Millis{10}).has_value());  // both in flight, hidden one ignored
  input->ack(*a);
  input->reject(*b);
  EXPECT_FALSE(fs::exists(root / "in" / "first"));
  EXPECT_TRUE(fs::exists(root / "in" / "second"));
  auto again = input->receive(Millis{10});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->message.payload, "2");
}

TEST_F(FileBinderTest, InputWakesUpWhenAFileIsRenamedIntoTheSpool) {
  auto input = binder.create_input(binding("input-0", "in"));
  input->open();
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    write(root / "in" / ".tmp", "late");
    fs::rename(root / "in" / ".tmp", root / "in" / "late");
  });
  auto d = input->receive(Millis{5000});
  writer.join();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.payload, "late");
}

TEST_F(FileBinderTest, OutputWritesPayloadByteForByteWithHeadersSidecar) {
  auto output = binder.create_output(binding("output-0", "out"));
  output->open();  // creates the directory
  const std::string payload("bin\0ary\xff", 8);
  output->send({payload, {{"file_name", "order-1.bin"}, {"content-type", "application/octet-stream"}}}, nullptr);
  EXPECT_EQ(read(root / "out" / "order-1.bin"), payload);
  const std::string sidecar = read(root / "out" / "order-1.bin.headers.json");
  EXPECT_NE(sidecar.find("\"content-type\": \"application/octet-stream\""), std::string::npos);
  for (const auto& entry : fs::directory_iterator(root / "out")) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << "temporary file left behind";
  }
}

TEST_F(FileBinderTest, UnsafeFileNameHeaderIsReplacedByGeneratedName) {
  auto output = binder.create_output(binding("output-0", "out"));
  output->open();
  output->send({"x", {{"file_name", "../escape"}}}, nullptr);
  EXPECT_FALSE(fs::exists(root / "escape"));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(root / "out")) {
    if (entry.path().filename().string().rfind("msg-", 0) == 0) ++files;
  }
  EXPECT_EQ(files, 2);  // payload and sidecar
}

TEST_F(FileBinderTest, HeadersTravelThroughFileToFileChains) {
  auto output = binder.create_output(binding("output-0", "in"));
  output->open();
  output->send({"p", {{"file_name", "m"}, {"correlation-id", "42"}}}, nullptr);
  auto input = binder.create_input(binding("input-0", "in"));
  input->open();
  auto d = input->receive(Millis{10});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.headers.at("correlation-id"), "42");
  EXPECT_FALSE(input->receive(Millis{10}).has_value());  // the sidecar is not a message
  input->ack(*d);
  EXPECT_TRUE(fs::is_empty(root / "in"));
}

TEST_F(FileBinderTest, OutputFailureKeepsTheSpoolFile) {
  config::WorkflowSettings s{0, true, binding("input-0", "in"), binding("output-0", "out"), {}, {}, {}};
  s.retry.initial_interval = Millis{100};
  workflow::BinderRegistry registry;
  registry.add(std::make_unique<FileBinder>());
  workflow::Workflow w(s, registry, SystemClock::instance());
  ASSERT_TRUE(w.start());
  for (int i = 0; i < 1000 && w.reconnecting(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_FALSE(w.reconnecting()) << "the bindings are open";
  // Turn the output directory into a plain file: every write now fails.
  fs::remove_all(root / "out");
  write(root / "out", "not a directory");
  write(root / "in" / "keep-me", "data");
  for (int i = 0; i < 1000 && w.counters().failed == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(w.counters().failed, 1u);
  EXPECT_TRUE(fs::exists(root / "in" / "keep-me"));
  // Repair the output: the message gets through.
  fs::remove(root / "out");
  fs::create_directories(root / "out");
  for (int i = 0; i < 1000 && !fs::exists(root / "out" / "keep-me"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(w.stop(Millis{2000}));
  EXPECT_EQ(read(root / "out" / "keep-me"), "data");
  EXPECT_FALSE(fs::exists(root / "in" / "keep-me"));
}

TEST_F(FileBinderTest, ClosedFenceAtCommitLeavesNothingBehind) {
  auto output = binder.create_output(binding("output-0", "out"));
  output->open();
  FencingGate closed;
  EXPECT_THROW(output->send({"late", {{"file_name", "late"}}}, &closed), workflow::FencedError);
  EXPECT_TRUE(fs::is_empty(root / "out"));  // no payload, no sidecar, no temporary file
  FencingGate open = FencingGate::always_open();
  output->send({"ok", {{"file_name", "ok"}}}, &open);
  EXPECT_EQ(read(root / "out" / "ok"), "ok");
}

TEST_F(FileBinderTest, DestinationThatIsAFileFailsToOpen) {
  write(root / "plain", "x");
  auto input = binder.create_input(binding("input-0", "plain"));
  EXPECT_THROW(input->open(), workflow::BindingError);
}

TEST_F(FileBinderTest, ALinkInTheSpoolIsNeverFollowedButSetAside) {
  write(root / "secret", "outside the spool");
  fs::create_symlink(root / "secret", root / "in" / "x");
  write(root / "in" / "plain", "p");
  auto input = binder.create_input(input_binding());
  input->open();
  auto d = input->receive(Millis{10});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.payload, "p");
  EXPECT_FALSE(input->receive(Millis{10}).has_value());
  EXPECT_FALSE(fs::exists(fs::symlink_status(root / "in" / "x")));
  EXPECT_TRUE(fs::is_symlink(root / "in" / ".rejected" / "x"));
  EXPECT_EQ(read(root / "secret"), "outside the spool");
}

TEST_F(FileBinderTest, TheDirectoryReadRefusesALinkToARegularFile) {
  write(root / "secret", "outside the spool");
  fs::create_symlink(root / "secret", root / "in" / "x");
  Directory dir(root / "in");
  std::string out;
  EXPECT_EQ(dir.read("x", 1 << 20, out).status, Directory::ReadStatus::kNotRegular);
  EXPECT_TRUE(out.empty());
}

TEST_F(FileBinderTest, OutputNeverWritesThroughALinkPlantedInItsDirectory) {
  fs::create_directories(root / "out");
  write(root / "victim", "precious");
  write(root / "victim2", "precious too");
  fs::create_symlink(root / "victim", root / "out" / ".evil.tmp");
  fs::create_symlink(root / "victim2", root / "out" / "evil");
  auto output = binder.create_output(binding("output-0", "out"));
  output->open();
  output->send({"payload", {}}, nullptr);  // a generated name first: no headers, no sidecar
  output->send({"payload", {{"file_name", "evil"}}}, nullptr);
  EXPECT_EQ(read(root / "victim"), "precious");
  EXPECT_EQ(read(root / "victim2"), "precious too");
  EXPECT_FALSE(fs::is_symlink(root / "out" / "evil"));
  EXPECT_EQ(read(root / "out" / "evil"), "payload");
  EXPECT_FALSE(fs::exists(fs::symlink_status(root / "out" / ".evil.tmp")));
}

TEST_F(FileBinderTest, AFifoInTheSpoolIsSetAsideWithoutWaitingOnIt) {
  ASSERT_EQ(::mkfifo((root / "in" / "pipe").c_str(), 0600), 0);
  auto input = binder.create_input(input_binding());
  input->open();
  EXPECT_FALSE(input->receive(Millis{10}).has_value());
  EXPECT_TRUE(fs::is_fifo(root / "in" / ".rejected" / "pipe"));
}

TEST_F(FileBinderTest, AFileOverTheSizeLimitIsSetAsideUnreadAndOneAtTheLimitIsDelivered) {
  write(root / "in" / "eleven", "12345678901");
  write(root / "in" / "ten", "1234567890");
  // A sparse 1 GiB file: set aside from its size, never read into memory.
  { std::ofstream(root / "in" / "huge"); }
  fs::resize_file(root / "in" / "huge", 1ull << 30);
  auto input = binder.create_input(input_binding(10));
  input->open();
  auto d = input->receive(Millis{10});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.payload, "1234567890");
  EXPECT_FALSE(input->receive(Millis{10}).has_value());
  EXPECT_EQ(read(root / "in" / ".rejected" / "eleven"), "12345678901");
  EXPECT_EQ(fs::file_size(root / "in" / ".rejected" / "huge"), 1ull << 30);
}

TEST_F(FileBinderTest, ASecondRejectOfTheSameNameKeepsTheFirst) {
  auto input = binder.create_input(input_binding(1));
  input->open();
  write(root / "in" / "big", "first");
  EXPECT_FALSE(input->receive(Millis{10}).has_value());
  write(root / "in" / "big", "second");
  EXPECT_FALSE(input->receive(Millis{10}).has_value());
  EXPECT_EQ(read(root / "in" / ".rejected" / "big"), "first");
  EXPECT_EQ(read(root / "in" / ".rejected" / "big.1"), "second");
}

TEST_F(FileBinderTest, AFileThatCannotBeSetAsideIsSkippedWithoutSpinning) {
  // A planted link where the rejects go: the move refuses it, so the link in the spool stays
  // where it is and is skipped until it changes, without a busy loop.
  fs::create_directories(root / "elsewhere");
  fs::create_symlink(root / "elsewhere", root / "in" / ".rejected");
  fs::create_symlink(root / "secret", root / "in" / "x");
  auto input = binder.create_input(input_binding());
  input->open();
  const auto cpu_before = thread_cpu_time();
  EXPECT_FALSE(input->receive(Millis{300}).has_value());
  EXPECT_LT((thread_cpu_time() - cpu_before).count(), 150) << "the input spun instead of sleeping";
  EXPECT_TRUE(fs::is_empty(root / "elsewhere"));
  EXPECT_TRUE(fs::is_symlink(root / "in" / "x"));
  // A real file still gets through.
  write(root / "in" / "ok", "ok");
  auto d = input->receive(Millis{1000});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.payload, "ok");
}

TEST_F(FileBinderTest, AnUnreadableFileIsSetAsideOnceNotRetriedInALoop) {
  write(root / "in" / "locked", "no access");
  fs::permissions(root / "in" / "locked", fs::perms::none);
  // Root reads anything: the reader drops to an unprivileged user in a child process.
  EXPECT_EXIT(
      {
        if (::getuid() == 0) {
          if (::chown((root / "in").c_str(), 65534, 65534) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
            std::_Exit(2);
          }
        }
        auto input = binder.create_input(input_binding());
        input->open();
        const bool nothing = !input->receive(Millis{10}).has_value();
        std::_Exit(nothing && fs::exists(root / "in" / ".rejected" / "locked") ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// A file written in place (create, write, close: `echo hello > spool/x`, most producers) is
// taken only once its writer closed it: the kernel refuses a read lease while it is open for
// writing. Before, a reader could take it between the create and the first write and deliver
// it empty, or take the first part and remove the file while the writer still wrote to it.
TEST_F(FileBinderTest, AFileHeldOpenForWritingIsTakenOnlyOnceItsWriterClosedIt) {
  auto input = binder.create_input(input_binding());
  input->open();
  const int fd = ::open((root / "in" / "report").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "part one;", 9), 9);
  EXPECT_FALSE(input->receive(Millis{300}).has_value()) << "taken while still open for writing";
  EXPECT_EQ(read(root / "in" / "report"), "part one;");
  ASSERT_EQ(::write(fd, " part two", 9), 9);
  std::thread closer([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::close(fd);
  });
  auto d = input->receive(Millis{5000});  // woken by the close (inotify IN_CLOSE_WRITE)
  closer.join();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.payload, "part one; part two");
  input->ack(*d);
  EXPECT_FALSE(fs::exists(root / "in" / "report"));
}

// Many writers writing in place, each pausing between create, writes and close, while the
// input takes and acknowledges: every file arrives whole, none empty, none twice.
TEST_F(FileBinderTest, FilesWrittenInPlaceArriveWholeNoneEmpty) {
  constexpr int kFiles = 300;
  auto input = binder.create_input(input_binding());
  input->open();
  std::thread writer([&] {
    std::mt19937 random(7);
    std::uniform_int_distribution<int> pause_us(0, 2000);
    for (int i = 0; i < kFiles; ++i) {
      const std::string name = "f" + std::to_string(i);
      const int fd = ::open((root / "in" / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) return;
      std::this_thread::sleep_for(std::chrono::microseconds(pause_us(random)));
      const std::string first = name + ":begin;", second = "end";
      if (::write(fd, first.data(), first.size()) < 0) return;
      std::this_thread::sleep_for(std::chrono::microseconds(pause_us(random)));
      if (::write(fd, second.data(), second.size()) < 0) return;
      ::close(fd);
    }
  });
  std::set<std::string> seen;
  int empty = 0, wrong = 0;
  for (int idle = 0; seen.size() < kFiles && idle < 50;) {
    auto d = input->receive(Millis{100});
    if (!d) {
      ++idle;
      continue;
    }
    idle = 0;
    const std::string& name = d->message.headers.at("file_name");
    if (d->message.payload.empty()) ++empty;
    if (d->message.payload != name + ":begin;end") ++wrong;
    seen.insert(name);
    input->ack(*d);
  }
  writer.join();
  EXPECT_EQ(empty, 0);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kFiles));
  EXPECT_TRUE(fs::is_empty(root / "in"));
}

// Where the kernel cannot say (here: a file of another owner, read without CAP_LEASE), a file
// is taken once it stayed the same for the quiet period; one that keeps growing is not.
TEST_F(FileBinderTest, WithoutLeasesAFileIsTakenOnceItStayedTheSameForTheQuietPeriod) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to give the spool to another user";
  auto b = input_binding();
  b.options["consumer.quietperiod"] = "300ms";
  write(root / "in" / "growing", "1");
  fs::permissions(root / "in" / "growing", fs::perms::owner_all | fs::perms::group_all | fs::perms::others_read |
                                               fs::perms::others_write);
  EXPECT_EXIT(
      {
        // Root owns the file; the reader runs as nobody, so its lease is refused (EACCES).
        if (::chown((root / "in").c_str(), 65534, 65534) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
          std::_Exit(2);
        }
        auto input = binder.create_input(b);
        input->open();
        // Root's writer is gone, but this process cannot know: it watches the file change.
        for (int i = 0; i < 8; ++i) {
          if (input->receive(Millis{100})) std::_Exit(3);  // taken although it just changed
          std::ofstream(root / "in" / "growing", std::ios::app) << i;
        }
        auto d = input->receive(Millis{3000});
        std::_Exit(d && d->message.payload == "101234567" ? 0 : 4);
      },
      ::testing::ExitedWithCode(0), "");
}

// consumer.ready-check: quiet-period (spools written from other hosts) waits even where a
// lease would be granted.
TEST_F(FileBinderTest, QuietPeriodCheckWaitsOutTheQuietPeriod) {
  auto b = input_binding();
  b.options["consumer.readycheck"] = "quiet-period";
  b.options["consumer.quietperiod"] = "500ms";
  auto input = binder.create_input(b);
  input->open();
  write(root / "in" / "done", "whole");
  EXPECT_FALSE(input->receive(Millis{100}).has_value()) << "taken before its quiet period";
  auto d = input->receive(Millis{3000});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.payload, "whole");
}

// A file replaced (renamed over) or written again after it was read is a new message: the
// acknowledgement of the old one must not remove it.
TEST_F(FileBinderTest, AFileReplacedAfterItWasReadStaysAndIsDeliveredAgain) {
  write(root / "in" / "order", "old");
  auto input = binder.create_input(input_binding());
  input->open();
  auto d = input->receive(Millis{1000});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.payload, "old");
  write(root / "in" / ".order", "new");
  fs::rename(root / "in" / ".order", root / "in" / "order");
  input->ack(*d);
  ASSERT_TRUE(fs::exists(root / "in" / "order"));
  auto again = input->receive(Millis{1000});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->message.payload, "new");
  input->ack(*again);
  EXPECT_FALSE(fs::exists(root / "in" / "order"));
}

// 200,000 nested arrays in a 400 KB sidecar overflowed the worker's stack (SIGSEGV, and again
// at every restart). Now the pair is set aside and the next file goes through.
TEST_F(FileBinderTest, ASidecarNestedTooDeeplyIsSetAsideWithItsPayload) {
  write(root / "in" / "deep", "payload");
  write(root / "in" / "deep.headers.json", std::string(200'000, '[') + std::string(200'000, ']'));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write(root / "in" / "next", "fine");
  auto input = binder.create_input(input_binding());
  input->open();
  auto d = input->receive(Millis{1000});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message.payload, "fine");
  EXPECT_EQ(read(root / "in" / ".rejected" / "deep"), "payload");
  EXPECT_TRUE(fs::exists(root / "in" / ".rejected" / "deep.headers.json"));
  EXPECT_FALSE(fs::exists(root / "in" / "deep"));
}

}  // namespace
}  // namespace mi::binders
