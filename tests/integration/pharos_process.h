// Test support: starts the real pharos binary on a free loopback port and stops it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pharos::testing {

class PharosProcess {
 public:
  /// A fresh temporary directory holds the data directory, port file and captured output.
  PharosProcess();
  ~PharosProcess();

  /// Runs `pharos ARGS...` with stdout and stderr captured; does not wait.
  void Spawn(const std::vector<std::string>& args);
  /// Runs `pharos serve --listen 127.0.0.1:0 --port-file ... --data ... EXTRA...` and waits
  /// until the port file appears and /readyz answers 200 (with `wait_ready`). Returns false
  /// when the process exits or times out first.
  bool StartServe(const std::vector<std::string>& extra = {}, bool wait_ready = true);
  /// Waits for exit; returns the exit code, or -1 on a timeout, 128+N for signal N.
  int Wait(int timeout_ms = 20000);
  void Signal(int sig);
  bool Running();

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  std::string Stderr() const;
  std::string Stdout() const;
  /// Writes a file into the temporary directory and returns its path.
  std::string WriteFile(const std::string& name, const std::string& content) const;

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  uint16_t port_ = 0;
};

/// A peer program (Prometheus, Alertmanager) started for a test with its output discarded;
/// destroying it sends SIGTERM and reaps it.
class PeerProcess {
 public:
  PeerProcess(const std::string& path, const std::vector<std::string>& args);
  ~PeerProcess();
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

 private:
  pid_t pid_ = -1;
};

/// The wall clock in milliseconds since the epoch (for samples and silences tests send).
int64_t NowMs();

/// Runs `pharos ARGS...` to completion; returns the exit code and fills stdout/stderr.
int RunPharos(const std::vector<std::string>& args, std::string* out, std::string* err);

/// Runs `node SCRIPT ARGS` in tests/JS_DIR; its exit status and output.
int RunNode(const std::string& js_dir, const std::string& script_and_args, std::string& output);

/// The port of a listener Pharos logged at start ("msg":"<what> listening","port":N), or 0.
int LoggedPort(const std::string& stderr_text, const std::string& what);

}  // namespace pharos::testing
