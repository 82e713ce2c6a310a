#include "tandem/io/ordered_file_sink.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "tandem/errors.hpp"
#include "tandem/interrupt.hpp"

namespace tandem {

namespace {

// Writes are gathered up to this size: a run_groups callback may hand over a few bytes per group,
// and one write() system call per group would dominate for small groups.
constexpr std::size_t buffer_bytes = std::size_t{1} << 20;

std::string error_text(int err) { return std::strerror(err); }

[[noreturn]] void unusable(const std::string& path, int err) {
  throw usage_error("cannot write '" + path + "': " + error_text(err));
}

std::string folder_of(const std::string& p) {
  const auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

// The descriptor a path names when it is one of this process's open files (/dev/stdout,
// /dev/fd/3, /proc/self/fd/3): writing through a dup keeps the shell's offset and append mode,
// where reopening the file would start at byte 0.
int own_descriptor(const std::string& p) {
  if (p == "/dev/stdout") return 1;
  if (p == "/dev/stderr") return 2;
  for (const char* prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    const std::size_t n = std::strlen(prefix);
    if (p.compare(0, n, prefix) == 0 && p.size() > n) {
      char* end = nullptr;
      const long fd = std::strtol(p.c_str() + n, &end, 10);
      if (*end == '\0' && fd >= 0 && fd <= INT_MAX) return int(fd);
    }
  }
  return -1;
}

// Follows symlinks (at most 40, as the kernel does) to the path that would be replaced.
std::string follow_links(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    std::string link(std::size_t(PATH_MAX), '\0');
    const ssize_t n = readlink(p.c_str(), link.data(), link.size());
    if (n < 0) return p;
    link.resize(std::size_t(n));
    p = link.front() == '/' ? link : folder_of(p) + "/" + link;
  }
  unusable(path, ELOOP);
}

std::atomic<unsigned> temp_counter{0};

// A fresh temporary file beside `target` (same folder, so the rename is atomic); its name in `temp`.
// O_EXCL: never reuse a name.
int open_temp(const std::string& path, const std::string& target, std::string& temp) {
  for (;;) {
    temp = target + ".tmp." + std::to_string(getpid()) + "." + std::to_string(temp_counter.fetch_add(1));
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) {
      const int e = errno;
      temp.clear();
      unusable(path, e);
    }
  }
}

}  // namespace

bool ordered_file_sink::check(const std::string& path) {
  if (path.empty()) unusable(path, ENOENT);
  if (const int own = own_descriptor(path); own >= 0) {
    const int flags = fcntl(own, F_GETFL);
    if (flags < 0) unusable(path, errno);
    if ((flags & O_ACCMODE) == O_RDONLY) unusable(path, EBADF);
    return true;
  }
  const std::string target = follow_links(path);
  struct stat st {};
  const bool exists = stat(target.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) unusable(path, EISDIR);
  if (exists && !S_ISREG(st.st_mode)) {
    // Not opened: opening a FIFO would wait for a reader, and closing it again would end that
    // reader's input before anything was written.
    if (access(target.c_str(), W_OK) != 0) unusable(path, errno);
    return true;
  }
  // The real test of a folder (permissions, a read-only mount, quotas, ACLs): make the temporary
  // file, and remove it at once.
  std::string temp;
  const int fd = open_temp(path, target, temp);
  const int slot = register_temporary_file(temp.c_str());
  ::close(fd);
  ::unlink(temp.c_str());
  unregister_temporary_file(slot);
  return false;
}

void ordered_file_sink::check_not_input(const std::string& path, const std::string& input, std::string_view what) {
  if (path.empty() || input.empty()) return;
  struct stat out {}, in {};
  bool same = false;
  if (stat(path.c_str(), &out) == 0 && stat(input.c_str(), &in) == 0) {
    same = S_ISREG(out.st_mode) && S_ISREG(in.st_mode) && out.st_dev == in.st_dev && out.st_ino == in.st_ino;
  } else {
    // A name not made yet (two outputs onto one new file): the same path once links and dots resolve.
    namespace fs = std::filesystem;
    std::error_code e1, e2, e3, e4;
    const fs::path a = fs::weakly_canonical(fs::absolute(path, e1), e2);
    const fs::path b = fs::weakly_canonical(fs::absolute(input, e3), e4);
    same = !e1 && !e2 && !e3 && !e4 && a == b;
  }
  if (same)
    throw usage_error("cannot write '" + path + "': it is the " + std::string(what) + " file '" + input +
                      "' of this run; write to another path");
}

ordered_file_sink::ordered_file_sink(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw usage_error("cannot write '': " + error_text(ENOENT));
  buffer_.reserve(buffer_bytes);
  if (const int own = own_descriptor(path_); own >= 0) {
    fd_ = fcntl(own, F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) unusable(path_, errno);
    target_ = path_;
    return;
  }
  target_ = follow_links(path_);
  struct stat st {};
  const bool exists = stat(target_.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) unusable(path_, EISDIR);
  if (exists && !S_ISREG(st.st_mode)) {
    // A device, FIFO or socket: write to it; never rename over it. (Opening a FIFO waits for a
    // reader, as `cmd > fifo` does.)
    fd_ = ::open(target_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) unusable(path_, errno);
    return;
  }
  // A regular file or nothing yet: a fresh temporary file beside it.
  // Unnamed first (O_TMPFILE): a process killed by SIGKILL at any moment before commit (an MPI
  // job's other ranks are ended that way a second after SIGTERM) leaves nothing in the folder.
  // The name is given at commit, just before the rename. File systems without O_TMPFILE get a
  // named temporary file at once, removed on failure and by the signal handler.
  fd_ = ::open(folder_of(target_).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  if (fd_ >= 0) {
    unnamed_ = true;
    temp_ = target_ + ".tmp." + std::to_string(getpid()) + "." + std::to_string(temp_counter.fetch_add(1));
  } else {
    fd_ = open_temp(path_, target_, temp_);
    // A signal that ends the process inside its handler (a CLI with no pool waiting) removes it.
    temp_slot_ = register_temporary_file(temp_.c_str());
  }
  // Replacing a file keeps its permissions; a new one gets 0666 less the umask, as open() gave.
  if (exists) (void)fchmod(fd_, st.st_mode & 07777);
}

ordered_file_sink::~ordered_file_sink() {
  if (!committed_) discard();
}

void ordered_file_sink::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty() && !unnamed_) ::unlink(temp_.c_str());
  unregister_temporary_file(std::exchange(temp_slot_, -1));
  buffer_.clear();
}

void ordered_file_sink::fail_write(const char* what, int err) {
  discard();
  committed_ = true;  // nothing more to clean up
  throw std::runtime_error(std::string(what) + " '" + path_ + "': " + error_text(err));
}

void ordered_file_sink::write(const void* bytes, std::size_t size) {
  if (committed_) throw std::logic_error("ordered_file_sink: write after commit or failure: '" + path_ + "'");
  const char* p = static_cast<const char*>(bytes);
  if (buffer_.size() + size > buffer_bytes) flush();
  if (size >= buffer_bytes) {
    write_all(p, size);  // a big write goes out at once, uncopied
    return;
  }
  buffer_.insert(buffer_.end(), p, p + size);
}

void ordered_file_sink::flush() {
  write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void ordered_file_sink::write_all(const char* p, std::size_t left) {
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_write("cannot write", errno);
    }
    if (n == 0) fail_write("cannot write", EIO);
    p += n;
    left -= std::size_t(n);
    written_ += std::size_t(n);
  }
}

// Links the unnamed file to temp_ (a fresh name; registered, so a signal from here on removes it).
void ordered_file_sink::give_name() {
  const std::string self = "/proc/self/fd/" + std::to_string(fd_);
  for (;;) {
    temp_slot_ = register_temporary_file(temp_.c_str());
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp_.c_str(), AT_SYMLINK_FOLLOW) == 0) break;
    const int e = errno;
    unregister_temporary_file(std::exchange(temp_slot_, -1));
    if (e != EEXIST) {
      unnamed_ = true;
      fail_write("cannot write", e);
    }
    temp_ = target_ + ".tmp." + std::to_string(getpid()) + "." + std::to_string(temp_counter.fetch_add(1));
  }
  unnamed_ = false;
}

void ordered_file_sink::commit() {
  if (committed_) throw std::logic_error("ordered_file_sink: commit twice or after a failure: '" + path_ + "'");
  flush();
  // A regular file is synced before the rename, so that after a crash PATH is the old or the new
  // file, never a renamed empty one. Devices and pipes have nothing to sync.
  if (!direct() && fsync(fd_) != 0) fail_write("cannot write", errno);
  if (unnamed_) give_name();
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_write("cannot write", errno);  // NFS and quotas report here
  if (!direct()) {
    if (::rename(temp_.c_str(), target_.c_str()) != 0) fail_write("cannot replace", errno);
    unregister_temporary_file(std::exchange(temp_slot_, -1));
    temp_.clear();
    // Make the rename itself durable (best effort: not every file system allows it).
    const int dir = ::open(folder_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      (void)fsync(dir);
      ::close(dir);
    }
  }
  committed_ = true;
}

}  // namespace tandem
