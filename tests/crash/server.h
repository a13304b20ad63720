// The crash harnesses' server: `pharos serve` forked on a free loopback port with a data
// directory, its output appended to a log file, killed with SIGKILL.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.h"

namespace pharos::testing {

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PharosServer {
 public:
  PharosServer(std::string binary, std::string data, std::string log,
               std::vector<std::string> extra_args)
      : binary_(std::move(binary)),
        data_(std::move(data)),
        log_(std::move(log)),
        extra_(std::move(extra_args)) {}
  ~PharosServer() { Kill(); }
  PharosServer(const PharosServer&) = delete;
  PharosServer& operator=(const PharosServer&) = delete;

  // Starts `pharos serve`; waits up to 60 s for readiness unless `wait` is false.
  bool Start(bool wait) {
    port_file_ = data_ + ".port";
    std::filesystem::remove(port_file_);
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<std::string> args = {
          binary_,       "serve",        "--listen", "127.0.0.1:0",
          "--port-file", port_file_,     "--data",   data_,
          "--log-level", "warn",         "--set",    "global.scrape_self=false",
          "--set",       "otlp.listen=", "--set",    "otlp.grpc_listen="};
      args.insert(args.end(), extra_.begin(), extra_.end());
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (!wait) return true;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::string port = ReadWholeFile(port_file_);
      if (!port.empty() && port.back() == '\n') {
        port_ = static_cast<uint16_t>(std::stoi(port));
        if (Get(port_, "/readyz").status == 200) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  uint16_t port() const { return port_; }

 private:
  std::string binary_;
  std::string data_;
  std::string log_;
  std::vector<std::string> extra_;
  std::string port_file_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace pharos::testing
