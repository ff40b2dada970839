#include "binders/file/spool_claims.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "binders/file/file_binder.h"
#include "workflow/binder.h"

namespace mi::binders {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Real files in a temporary spool: the claims are renames and flocks, which only a real file
// system shows.
class SpoolClaimsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("mi-spool-claims-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root / "spool");
    spool = std::make_unique<Directory>(root / "spool");
  }
  void TearDown() override { fs::remove_all(root); }

  static void write(const fs::path& p, const std::string& data) { std::ofstream(p, std::ios::binary) << data; }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::set<std::string> spool_files() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(root / "spool")) {
      if (e.path().filename().string()[0] != '.') names.insert(e.path().filename().string());
    }
    return names;
  }
  config::BindingSettings shared_input(const std::string& instance) const {
    config::BindingSettings b{"input-0", (root / "spool").string(), "file", "file", {}, {}};
    b.shared = true;
    b.instance_name = instance;
    return b;
  }

  fs::path root;
  std::unique_ptr<Directory> spool;
};

TEST_F(SpoolClaimsTest, OnlyOneOwnerWinsAClaimAndItsSidecarFollows) {
  write(root / "spool" / "m1", "payload");
  write(root / "spool" / "m1.headers.json", R"({"k":"v"})");
  SpoolClaims a("a.input-0", "input-0", 0ms);
  SpoolClaims b("b.input-0", "input-0", 0ms);
  a.open(*spool);
  b.open(*spool);
  const auto won = a.claim(*spool, "m1");
  ASSERT_TRUE(won.has_value());
  EXPECT_FALSE(b.claim(*spool, "m1").has_value());
  EXPECT_EQ(read(root / "spool" / ".claimed" / "a.input-0" / *won), "payload");
  EXPECT_EQ(read(root / "spool" / ".claimed" / "a.input-0" / (*won + ".headers.json")), R"({"k":"v"})");
  EXPECT_TRUE(spool_files().empty());

  a.remove_delivered(*won);
  EXPECT_FALSE(fs::exists(root / "spool" / ".claimed" / "a.input-0" / *won));
  EXPECT_FALSE(fs::exists(root / "spool" / ".claimed" / "a.input-0" / (*won + ".headers.json")));
}

TEST_F(SpoolClaimsTest, AHandedBackFileReturnsToTheSpoolWithItsSidecar) {
  write(root / "spool" / "m1", "payload");
  write(root / "spool" / "m1.headers.json", "{}");
  SpoolClaims a("a.input-0", "input-0", 0ms);
  a.open(*spool);
  const auto claimed = a.claim(*spool, "m1");
  ASSERT_TRUE(claimed.has_value());
  EXPECT_TRUE(a.hand_back(*spool, *claimed));
  EXPECT_EQ(spool_files(), (std::set<std::string>{"m1", "m1.headers.json"}));

  // A new file of the same name dropped meanwhile is never replaced: the claim stays.
  const auto again = a.claim(*spool, "m1");
  ASSERT_TRUE(again.has_value());
  write(root / "spool" / "m1", "newer");
  EXPECT_FALSE(a.hand_back(*spool, *again));
  EXPECT_EQ(read(root / "spool" / "m1"), "newer");
  EXPECT_EQ(read(root / "spool" / ".claimed" / "a.input-0" / *again), "payload");
}

TEST_F(SpoolClaimsTest, TwoLiveInstancesWithOneNameAreRefusedWithTheKeyToChange) {
  SpoolClaims first("same.input-0", "input-0", 0ms);
  first.open(*spool);
  SpoolClaims second("same.input-0", "input-0", 0ms);
  try {
    second.open(*spool);
    FAIL() << "a second live owner of one name was let in";
  } catch (const workflow::BindingError& e) {
    EXPECT_NE(std::string(e.what()).find("leader-election.instance-name"), std::string::npos) << e.what();
  }
}

TEST_F(SpoolClaimsTest, ClaimsOfAnOwnerWhoseProcessIsGoneAreRecoveredAndALiveOwnersAreNot) {
  for (const char* name : {"m1", "m2", "m3"}) write(root / "spool" / name, name);
  write(root / "spool" / "m1.headers.json", "{}");
  SpoolClaims survivor("b.input-0", "input-0", 0ms);
  survivor.open(*spool);
  {
    SpoolClaims dead("a.input-0", "input-0", 0ms);
    dead.open(*spool);
    ASSERT_TRUE(dead.claim(*spool, "m1"));
    ASSERT_TRUE(dead.claim(*spool, "m2"));
    SpoolClaims alive("c.input-0", "input-0", 0ms);
    alive.open(*spool);
    ASSERT_TRUE(alive.claim(*spool, "m3"));
    // Both hold their locks: nothing is taken from a live owner.
    EXPECT_EQ(survivor.recover_abandoned(*spool), 0);
    EXPECT_TRUE(spool_files().empty());
    // `alive` closes cleanly (puts m3 back itself); `dead` is destroyed without close(),
    // as a killed process would be: its lock goes, its claims stay.
    alive.close(*spool);
    EXPECT_EQ(spool_files(), (std::set<std::string>{"m3"}));
  }
  EXPECT_EQ(survivor.recover_abandoned(*spool), 2);
  EXPECT_EQ(spool_files(), (std::set<std::string>{"m1", "m1.headers.json", "m2", "m3"}));
  EXPECT_EQ(read(root / "spool" / "m2"), "m2");
}

TEST_F(SpoolClaimsTest, ARestartedOwnerPutsItsOwnLeftoversBackAndARecoveredNameClashGetsASuffix) {
  write(root / "spool" / "m1", "old");
  {
    SpoolClaims before("a.input-0", "input-0", 0ms);
    before.open(*spool);
    ASSERT_TRUE(before.claim(*spool, "m1"));
  }  // killed
  write(root / "spool" / "m1", "new");  // a new file of that name meanwhile
  SpoolClaims after("a.input-0", "input-0", 0ms);
  after.open(*spool);
  EXPECT_EQ(spool_files(), (std::set<std::string>{"m1", "m1.1"}));
  EXPECT_EQ(read(root / "spool" / "m1"), "new");
  EXPECT_EQ(read(root / "spool" / "m1.1"), "old");
}

// Two inputs of the file binder in shared mode (active_active) on one spool: every file is
// delivered once, and both take a share.
TEST_F(SpoolClaimsTest, TwoSharedFileInputsDeliverEachFileOnceBetweenThem) {
  constexpr int kFiles = 200;
  for (int i = 0; i < kFiles; ++i) write(root / "spool" / ("f" + std::to_string(i)), std::to_string(i));
  FileBinder binder;
  auto a = binder.create_input(shared_input("a"));
  auto b = binder.create_input(shared_input("b"));
  a->open();
  b->open();
  std::multiset<std::string> delivered;
  int by_a = 0;
  int by_b = 0;
  for (int round = 0; round < 2 * kFiles && delivered.size() < kFiles; ++round) {
    // Each takes one before either acknowledges: the two claim from the same listing.
    auto da = a->receive(std::chrono::milliseconds(0));
    auto db = b->receive(std::chrono::milliseconds(0));
    if (da) {
      delivered.insert(da->message.payload);
      ++by_a;
      a->ack(*da);
    }
    if (db) {
      delivered.insert(db->message.payload);
      ++by_b;
      b->ack(*db);
    }
  }
  EXPECT_EQ(delivered.size(), static_cast<std::size_t>(kFiles));
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(), static_cast<std::size_t>(kFiles))
      << "a file was delivered twice";
  EXPECT_GT(by_a, kFiles / 4);
  EXPECT_GT(by_b, kFiles / 4);
  EXPECT_TRUE(spool_files().empty());
  a->close();
  b->close();
}

TEST_F(SpoolClaimsTest, ASharedInputKeepsTheSpoolNameAsFileNameAndHandsARejectedFileBack) {
  write(root / "spool" / "order-7.xml", "<o/>");
  FileBinder binder;
  auto a = binder.create_input(shared_input("a"));
  a->open();
  auto d = a->receive(std::chrono::milliseconds(0));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->message.headers.at(std::string(kFileNameHeader)), "order-7.xml");
  EXPECT_TRUE(spool_files().empty());
  a->reject(*d);  // e.g. the output is down: any instance may take it now
  EXPECT_EQ(spool_files(), (std::set<std::string>{"order-7.xml"}));
  a->close();
}

}  // namespace
}  // namespace mi::binders
