#include "platform/process/child_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace quoteflow::process {
namespace {

absl::Time Soon() { return absl::Now() + absl::Seconds(10); }

std::unique_ptr<ChildProcess> StartShell(
    const std::string& script, ChildProcess::Stdin stdin_mode = ChildProcess::Stdin::kNull,
    std::vector<std::pair<std::string, std::string>> env = {}) {
  ChildProcess::Options o;
  o.path = "/bin/sh";
  o.args = {"-c", script};
  o.capture_stdout = true;
  o.stdin_mode = stdin_mode;
  o.env = std::move(env);
  auto child = ChildProcess::Start(o);
  EXPECT_TRUE(child.ok()) << child.status();
  return child.ok() ? std::move(*child) : nullptr;
}

TEST(ChildProcessTest, ReadsLinesAndExitStatus) {
  auto child = StartShell("echo one; printf 'two\\nthree'; exit 3");
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(*child->ReadLine(Soon()), "one");
  EXPECT_EQ(*child->ReadLine(Soon()), "two");
  EXPECT_EQ(*child->ReadLine(Soon()), "three");  // last line without '\n'
  EXPECT_TRUE(absl::IsUnavailable(child->ReadLine(Soon()).status()));
  EXPECT_EQ(*child->Wait(Soon()), 3);
  EXPECT_FALSE(child->Running());
  EXPECT_EQ(*child->Wait(absl::Now()), 3);  // cached
}

TEST(ChildProcessTest, PassesEnvironment) {
  auto child =
      StartShell("echo \"$QF_TEST_VAR\"", ChildProcess::Stdin::kNull, {{"QF_TEST_VAR", "a b=c;d"}});
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(*child->ReadLine(Soon()), "a b=c;d");
}

TEST(ChildProcessTest, ReadLineDeadline) {
  auto child = StartShell("exec sleep 30");
  ASSERT_NE(child, nullptr);
  absl::Time start = absl::Now();
  auto line = child->ReadLine(absl::Now() + absl::Milliseconds(100));
  EXPECT_TRUE(absl::IsDeadlineExceeded(line.status())) << line.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_TRUE(child->Running());
  EXPECT_TRUE(absl::IsDeadlineExceeded(child->Wait(absl::Now() + absl::Milliseconds(20)).status()));
}

TEST(ChildProcessTest, SignalReportsNegativeSignal) {
  auto child = StartShell("echo ready; exec sleep 30");
  ASSERT_NE(child, nullptr);
  ASSERT_EQ(*child->ReadLine(Soon()), "ready");
  ASSERT_TRUE(child->Signal(SIGTERM).ok());
  EXPECT_EQ(*child->Wait(Soon()), -SIGTERM);
  EXPECT_TRUE(absl::IsFailedPrecondition(child->Signal(SIGTERM)));
}

TEST(ChildProcessTest, StdinPipeEchoAndEof) {
  auto child =
      StartShell("while read -r l; do echo \"got $l\"; done; echo bye", ChildProcess::Stdin::kPipe);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->WriteLine("hello").ok());
  EXPECT_EQ(*child->ReadLine(Soon()), "got hello");
  ASSERT_TRUE(child->WriteLine("world").ok());
  EXPECT_EQ(*child->ReadLine(Soon()), "got world");
  child->CloseStdin();
  EXPECT_EQ(*child->ReadLine(Soon()), "bye");
  EXPECT_EQ(*child->Wait(Soon()), 0);
}

TEST(ChildProcessTest, WriteToExitedChildIsUnavailableNotSigpipe) {
  auto child = StartShell("exit 0", ChildProcess::Stdin::kPipe);
  ASSERT_NE(child, nullptr);
  ASSERT_EQ(*child->Wait(Soon()), 0);
  absl::Status s;
  // The first write may still land in the socket buffer; keep writing until the peer is gone.
  for (int i = 0; i < 100 && s.ok(); ++i) s = child->WriteLine("x");
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
}

TEST(ChildProcessTest, MissingExecutableIsNotFound) {
  ChildProcess::Options o;
  o.path = "/nonexistent/quoteflow-nothing";
  auto child = ChildProcess::Start(o);
  EXPECT_TRUE(absl::IsNotFound(child.status())) << child.status();
}

TEST(ChildProcessTest, StdinNullByDefaultAndStderrToFile) {
  std::string path = ::testing::TempDir() + "/child_stderr_" + std::to_string(getpid());
  std::remove(path.c_str());
  ChildProcess::Options o;
  o.path = "/bin/sh";
  o.args = {"-c", "cat; echo to-stderr >&2; echo done"};
  o.capture_stdout = true;
  o.stderr_path = path;
  auto child = ChildProcess::Start(o);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(*(*child)->ReadLine(Soon()), "done");  // cat saw EOF from /dev/null at once
  EXPECT_EQ(*(*child)->Wait(Soon()), 0);
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), "to-stderr\n");
  std::remove(path.c_str());
}

TEST(ChildProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    auto child = StartShell("echo up; exec sleep 30");
    ASSERT_NE(child, nullptr);
    ASSERT_EQ(*child->ReadLine(Soon()), "up");
    pid = child->pid();
  }
  // Reaped already: it is no longer our child to wait for.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(ChildProcessTest, FreeTcpPort) {
  int port = FreeTcpPort();
  EXPECT_GT(port, 0);
  EXPECT_LT(port, 65536);
}

}  // namespace
}  // namespace quoteflow::process
