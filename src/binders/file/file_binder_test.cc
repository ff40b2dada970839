#include "binders/file/file_binder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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
  config::WorkflowSettings s{0, true, binding("input-0", "in"), binding("output-0", "out"), {}, {}};
  s.retry.initial_interval = Millis{100};
  workflow::BinderRegistry registry;
  registry.add(std::make_unique<FileBinder>());
  workflow::Workflow w(s, registry, SystemClock::instance());
  ASSERT_TRUE(w.start());
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

}  // namespace
}  // namespace mi::binders
