#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace pharos::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

PharosProcess::PharosProcess() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pharos-it-XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  dir_ = made ? made : "/tmp";
}

PharosProcess::~PharosProcess() {
  if (Running()) {
    ::kill(pid_, SIGKILL);
    Wait(5000);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void PharosProcess::Spawn(const std::vector<std::string>& args) {
  exit_code_ = -1;
  std::string out = dir_ + "/stdout";
  std::string err = dir_ + "/stderr";
  pid_ = ::fork();
  if (pid_ == 0) {
    int ofd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int efd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(ofd, 1);
    ::dup2(efd, 2);
    std::vector<char*> argv;
    std::string binary = PHAROS_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  exit_code_ = -1;
}

bool PharosProcess::StartServe(const std::vector<std::string>& extra, bool wait_ready) {
  std::string port_file = dir_ + "/port";
  ::unlink(port_file.c_str());  // a restart must not read the previous run's port
  // A free OTLP port too, so that servers (and tests) can run side by side.
  std::vector<std::string> args = {"serve",
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--port-file",
                                   port_file,
                                   "--data",
                                   dir_ + "/data",
                                   "--set",
                                   "otlp.listen=127.0.0.1:0",
                                   "--set",
                                   "otlp.grpc_listen=127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  Spawn(args);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = ReadAll(port_file);
    if (!text.empty() && text.back() == '\n') {
      port_ = static_cast<uint16_t>(std::stoi(text));
      if (!wait_ready) return true;
      while (std::chrono::steady_clock::now() < deadline && Running()) {
        if (Get(port_, "/readyz").status == 200) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return false;
    }
    if (!Running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

bool PharosProcess::Running() {
  if (pid_ <= 0 || exit_code_ >= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return false;
}

int PharosProcess::Wait(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

void PharosProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::string PharosProcess::Stderr() const { return ReadAll(dir_ + "/stderr"); }
std::string PharosProcess::Stdout() const { return ReadAll(dir_ + "/stdout"); }

std::string PharosProcess::WriteFile(const std::string& name, const std::string& content) const {
  std::string path = dir_ + "/" + name;
  std::ofstream(path) << content;
  return path;
}

int RunPharos(const std::vector<std::string>& args, std::string* out, std::string* err) {
  PharosProcess p;
  p.Spawn(args);
  int code = p.Wait();
  if (out) *out = p.Stdout();
  if (err) *err = p.Stderr();
  return code;
}

PeerProcess::PeerProcess(const std::string& path, const std::vector<std::string>& args) {
  pid_ = ::fork();
  if (pid_ == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
}

PeerProcess::~PeerProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int RunNode(const std::string& js_dir, const std::string& script_and_args, std::string& output) {
  return RunShell("cd " PHAROS_SOURCE_DIR "/tests/" + js_dir + " && node " + script_and_args,
                  output);
}

int LoggedPort(const std::string& stderr_text, const std::string& what) {
  const std::string needle = "\"msg\":\"" + what + " listening\",\"port\":";
  size_t at = stderr_text.find(needle);
  return at == std::string::npos ? 0 : std::stoi(stderr_text.substr(at + needle.size()));
}

}  // namespace pharos::testing
