#include "core/file_lock.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "test/harness.h"
#include "test/wal_test_util.h"

namespace tapio {
namespace {

using tapio_test::FileExists;
using tapio_test::ModeOf;
using tapio_test::ReadFileBytes;
using tapio_test::ScopedUmask;
using tapio_test::TempDir;
using tapio_test::WriteFileBytes;

std::string Text(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

std::string Detail(const Status& s, const std::string& key) {
  for (const StatusDetail& d : s.details()) {
    if (d.key == key) return d.kind == StatusDetail::Kind::kText ? d.text : std::to_string(d.number);
  }
  return "<none>";
}

TEST(FileLock, CreatesTheFileAndExcludesASecondLockUntilReleased) {
  TempDir dir;
  const std::string path = dir.Sub("LOCK");
  std::unique_ptr<FileLock> first;
  ASSERT_TRUE(FileLock::TryAcquire(path, &first).ok());
  ASSERT_TRUE(first != nullptr);
  EXPECT_TRUE(first->held());
  EXPECT_TRUE(FileExists(path));
  // flock belongs to the open file description: a second one is refused, in this process too.
  std::unique_ptr<FileLock> second;
  ASSERT_TRUE(FileLock::TryAcquire(path, &second).ok());
  EXPECT_TRUE(second == nullptr);
  first->Release();
  EXPECT_FALSE(first->held());
  first->Release();  // a second release does nothing
  ASSERT_TRUE(FileLock::TryAcquire(path, &second).ok());
  EXPECT_TRUE(second != nullptr);
}

TEST(FileLock, CreatesAPrivateFile) {
  ScopedUmask usual;
  TempDir dir;
  std::unique_ptr<FileLock> lock;
  ASSERT_TRUE(FileLock::TryAcquire(dir.Sub("LOCK"), &lock).ok());
  ASSERT_TRUE(lock != nullptr);
  EXPECT_EQ(std::string("600"), ModeOf(dir.Sub("LOCK")));
}

// Release closes the descriptor and leaves the file where it is: removing it would let a process
// holding the old inode and one creating a new file both hold "the" lock.
TEST(FileLock, ReleaseAndDestructionKeepTheFile) {
  TempDir dir;
  const std::string path = dir.Sub("LOCK");
  {
    std::unique_ptr<FileLock> lock;
    ASSERT_TRUE(FileLock::TryAcquire(path, &lock).ok());
    ASSERT_TRUE(lock != nullptr);
    ASSERT_TRUE(lock->WriteContents("42\n").ok());
    lock->Release();
    EXPECT_TRUE(FileExists(path));
  }
  {
    std::unique_ptr<FileLock> lock;
    ASSERT_TRUE(FileLock::TryAcquire(path, &lock).ok());
    ASSERT_TRUE(lock != nullptr);
  }  // destroyed while held
  EXPECT_TRUE(FileExists(path));
  EXPECT_EQ(std::string("42\n"), Text(ReadFileBytes(path)));
  std::unique_ptr<FileLock> again;
  ASSERT_TRUE(FileLock::TryAcquire(path, &again).ok());
  EXPECT_TRUE(again != nullptr);
}

// A file left by an earlier holder (a process id of an older version, or any text) does not
// block: the contents are informational, and are replaced whole, however long they were.
TEST(FileLock, ReusesAnExistingFileAndReplacesItsContents) {
  TempDir dir;
  const std::string path = dir.Sub("LOCK");
  ASSERT_TRUE(WriteFileBytes(path, {'9', '9', '9', '9', '9', '9', '9', '9', '9', '\n'}));
  std::unique_ptr<FileLock> lock;
  ASSERT_TRUE(FileLock::TryAcquire(path, &lock).ok());
  ASSERT_TRUE(lock != nullptr);
  EXPECT_EQ(std::string("999999999\n"), Text(ReadFileBytes(path)));
  ASSERT_TRUE(lock->WriteContents("7\n").ok());
  EXPECT_EQ(std::string("7\n"), Text(ReadFileBytes(path)));
  ASSERT_TRUE(lock->WriteContents("").ok());
  EXPECT_EQ(std::string(), Text(ReadFileBytes(path)));
  lock->Release();
  EXPECT_EQ(StatusCode::kClosed, lock->WriteContents("1\n").code());
}

TEST(FileLock, AFileThatCannotBeOpenedIsAnIoErrorWithTheErrno) {
  TempDir dir;
  std::unique_ptr<FileLock> lock;
  Status missing = FileLock::TryAcquire(dir.Sub("no-such-dir/LOCK"), &lock);
  EXPECT_EQ(StatusCode::kIoError, missing.code());
  EXPECT_TRUE(lock == nullptr);
  EXPECT_EQ(std::string("open"), Detail(missing, "operation"));
  EXPECT_EQ(std::string("ENOENT"), Detail(missing, "errno"));
  EXPECT_EQ(dir.Sub("no-such-dir/LOCK"), Detail(missing, "file"));
  // A directory where the file should be: open(O_RDWR) fails with EISDIR (as root too).
  Status is_dir = FileLock::TryAcquire(dir.path(), &lock);
  EXPECT_EQ(StatusCode::kIoError, is_dir.code());
  EXPECT_EQ(std::string("EISDIR"), Detail(is_dir, "errno"));
  EXPECT_TRUE(lock == nullptr);
}

// The lock dies with its process: a child that holds it excludes this process until it is
// killed with SIGKILL (no destructor, no cleanup), and then the lock is free at once.
TEST(FileLock, DiesWithTheProcessThatHeldIt) {
  TempDir dir;
  const std::string path = dir.Sub("LOCK");
  int ready[2];
  ASSERT_EQ(0, pipe(ready));
  const pid_t child = fork();
  ASSERT_TRUE(child >= 0);
  if (child == 0) {
    close(ready[0]);
    std::unique_ptr<FileLock> lock;
    const char got = FileLock::TryAcquire(path, &lock).ok() && lock != nullptr ? '1' : '0';
    if (write(ready[1], &got, 1) != 1) _exit(2);
    for (;;) pause();
  }
  close(ready[1]);
  char got = 0;
  ASSERT_EQ(ssize_t{1}, read(ready[0], &got, 1));
  close(ready[0]);
  EXPECT_EQ('1', got);
  std::unique_ptr<FileLock> lock;
  ASSERT_TRUE(FileLock::TryAcquire(path, &lock).ok());
  EXPECT_TRUE(lock == nullptr);
  ASSERT_EQ(0, kill(child, SIGKILL));
  int status = 0;
  ASSERT_EQ(child, waitpid(child, &status, 0));
  EXPECT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE(FileLock::TryAcquire(path, &lock).ok());
  EXPECT_TRUE(lock != nullptr);
}

}  // namespace
}  // namespace tapio
