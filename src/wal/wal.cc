#include "wal/wal.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"
#include "common/mutex.h"
#include "common/varint.h"
#include "wal/wal_format.h"

namespace pharos::wal {
namespace {

std::string SegmentHeader() {
  std::string h;
  PutFixed32(h, kSegmentMagic);
  PutFixed32(h, kFormatVersion);
  return h;
}

bool ParseSegmentName(const std::string& name, uint64_t& number);

// "segment 00000002" or "checkpoint.00000002", for messages.
std::string Describe(const std::string& file) {
  uint64_t n;
  return ParseSegmentName(file, n) ? "segment " + file : file;
}

bool ParseSegmentName(const std::string& name, uint64_t& number) {
  if (name.size() != static_cast<size_t>(kSegmentNameDigits)) return false;
  number = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    number = number * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

struct WalMetrics {
  explicit WalMetrics(selfmon::Registry& r)
      : records(r.AddCounter("pharos_wal_records_total", "Records appended to the WAL.")
                    .WithLabels({})),
        bytes(r.AddCounter("pharos_wal_bytes_total", "Bytes appended to the WAL.").WithLabels({})),
        writes(r.AddCounter("pharos_wal_writes_total",
                            "write() calls, each carrying one group-committed batch.")
                   .WithLabels({})),
        fsyncs(r.AddCounter("pharos_wal_fsyncs_total", "fdatasync calls on WAL segments.")
                   .WithLabels({})),
        fsync_seconds(r.AddHistogram("pharos_wal_fsync_duration_seconds",
                                     "Time spent in fdatasync on WAL segments.", {},
                                     selfmon::LatencyBuckets())
                          .WithLabels({})),
        errors(r.AddCounter("pharos_wal_errors_total",
                            "WAL writes or syncs that failed; the WAL refuses appends after one.")
                   .WithLabels({})),
        repairs(r.AddCounter("pharos_wal_repairs_total",
                             "Torn or corrupt WAL tails truncated at start-up.")
                    .WithLabels({})),
        segments(r.AddGauge("pharos_wal_segments", "WAL segments on disk.").WithLabels({})),
        checkpoints(r.AddCounter("pharos_wal_checkpoints_total",
                                 "Checkpoints written (each replaces the segments before it).")
                        .WithLabels({})),
        write_retries(r.AddCounter("pharos_wal_write_retries_total",
                                   "Attempts to resume appending after a failed write.")
                          .WithLabels({})) {}
  selfmon::Counter& records;
  selfmon::Counter& bytes;
  selfmon::Counter& writes;
  selfmon::Counter& fsyncs;
  selfmon::Histogram& fsync_seconds;
  selfmon::Counter& errors;
  selfmon::Counter& repairs;
  selfmon::Gauge& segments;
  selfmon::Counter& checkpoints;
  selfmon::Counter& write_retries;
};

class WalImpl final : public Wal {
 public:
  WalImpl(const Options& options, selfmon::Registry& registry)
      : options_(options), metrics_(registry) {}

  ~WalImpl() override { (void)Close(); }

  // Start-up, before any other thread can see the log: no lock needed.
  Status OpenAndReplay(const ReplayFn& replay,
                       ReplayReport* report) PHAROS_NO_THREAD_SAFETY_ANALYSIS {
    Env* env = options_.env;
    PHAROS_RETURN_IF_ERROR(env->MakeDirs(options_.dir));
    Result<std::vector<std::string>> names = env->ListDir(options_.dir);
    if (!names.ok()) return names.status();
    std::vector<uint64_t> checkpoints;
    for (const std::string& name : *names) {
      uint64_t n;
      if (ParseSegmentName(name, n)) {
        segments_.push_back(n);
      } else if (name.starts_with(kCheckpointPrefix) && name.ends_with(".tmp")) {
        // An interrupted checkpoint: what it was to replace is still here.
        PHAROS_RETURN_IF_ERROR(env->Remove(options_.dir + "/" + name));
      } else if (name.starts_with(kCheckpointPrefix) &&
                 ParseSegmentName(name.substr(kCheckpointPrefix.size()), n)) {
        checkpoints.push_back(n);
      }
    }
    std::sort(segments_.begin(), segments_.end());
    std::sort(checkpoints.begin(), checkpoints.end());
    if (!checkpoints.empty()) {
      // The newest checkpoint covers older ones and every segment before it; those are
      // leftovers of a checkpoint interrupted after its rename.
      checkpoint_ = checkpoints.back();
      checkpoints.pop_back();
      for (uint64_t c : checkpoints) PHAROS_RETURN_IF_ERROR(env->Remove(Path(CheckpointName(c))));
      PHAROS_RETURN_IF_ERROR(DropSegmentsBefore(checkpoint_, /*keep_current=*/false));
    }
    ReplayReport local;
    ReplayReport& rep = report ? *report : local;
    // The checkpoint first, then the segments; damage in one cuts it and drops the rest.
    std::vector<std::string> files;
    if (checkpoint_) files.push_back(CheckpointName(checkpoint_));
    for (uint64_t n : segments_) files.push_back(SegmentName(n));
    for (size_t i = 0; i < files.size(); ++i) {
      std::string path = Path(files[i]);
      Result<std::string> data = env->ReadFile(path);
      if (!data.ok()) return data.status();
      ++rep.segments;
      uint64_t good_end = 0;
      std::string problem;
      PHAROS_RETURN_IF_ERROR(ReplayFile(files[i], *data, replay, rep, good_end, problem));
      if (problem.empty()) continue;
      // Cut here; everything after is gone (it may depend on what was lost).
      rep.repaired = true;
      rep.repair_reason = fmt::format("{} offset {}: {}", Describe(files[i]), good_end, problem);
      rep.dropped_bytes += data->size() - good_end;
      if (options_.repair_dry_run) {
        for (size_t j = i + 1; j < files.size(); ++j) {
          Result<std::string> later = env->ReadFile(Path(files[j]));
          if (later.ok()) rep.dropped_bytes += later->size();
        }
        break;
      }
      if (good_end < kSegmentHeaderBytes) {
        PHAROS_RETURN_IF_ERROR(env->WriteFile(path, SegmentHeader()));
      } else {
        PHAROS_RETURN_IF_ERROR(env->Truncate(path, good_end));
      }
      std::vector<uint64_t> kept_segments;
      for (size_t j = 0; j < files.size(); ++j) {
        uint64_t n = 0;
        bool is_segment = ParseSegmentName(files[j], n);
        if (j <= i) {
          if (is_segment) kept_segments.push_back(n);
          continue;
        }
        Result<std::string> later = env->ReadFile(Path(files[j]));
        if (later.ok()) rep.dropped_bytes += later->size();
        PHAROS_RETURN_IF_ERROR(env->Remove(Path(files[j])));
      }
      segments_ = std::move(kept_segments);
      PHAROS_RETURN_IF_ERROR(env->SyncDir(options_.dir));
      metrics_.repairs.Inc();
      LogWarn("WAL: torn or corrupt tail truncated", {{"dir", options_.dir},
                                                      {"reason", rep.repair_reason},
                                                      {"dropped_bytes", rep.dropped_bytes}});
      break;
    }
    if (segments_.empty()) {
      PHAROS_RETURN_IF_ERROR(StartSegment(std::max<uint64_t>(1, checkpoint_)));
    } else {
      Result<std::unique_ptr<AppendFile>> f = env->OpenAppend(Path(SegmentName(segments_.back())));
      if (!f.ok()) return f.status();
      file_ = std::shared_ptr<AppendFile>(std::move(f).value());
    }
    metrics_.segments.Set(static_cast<double>(segments_.size()));
    if (options_.sync == SyncPolicy::kInterval) {
      syncer_ = std::thread([this] { SyncLoop(); });
    }
    return Status::Ok();
  }

  Result<CheckpointReport> Checkpoint(uint64_t segment, const CheckpointFilter& filter) override {
    MutexLock one_at_a_time(checkpoint_mu_);
    std::vector<std::string> inputs;
    uint64_t previous;
    {
      MutexLock lock(mu_);
      PHAROS_RETURN_IF_ERROR(error_);
      if (segment <= checkpoint_) return CheckpointReport{};
      if (segments_.empty() || segment > segments_.back()) {
        return InvalidArgument(
            fmt::format("checkpoint up to segment {} past the last one", segment));
      }
      previous = checkpoint_;
      if (previous) inputs.push_back(CheckpointName(previous));
      for (uint64_t n : segments_) {
        if (n < segment) inputs.push_back(SegmentName(n));
      }
    }
    Env* env = options_.env;
    std::string final_path = Path(CheckpointName(segment));
    std::string tmp = final_path + ".tmp";
    (void)env->Remove(tmp);
    Result<std::unique_ptr<AppendFile>> out = env->OpenAppend(tmp);
    if (!out.ok()) return out.status();
    CheckpointReport report;
    std::string buffer = SegmentHeader();
    std::string kept;
    Status status;
    for (const std::string& name : inputs) {
      Result<std::string> data = env->ReadFile(Path(name));
      if (!data.ok()) {
        status = data.status();
        break;
      }
      status = ForEachRecord(*data, [&](std::string_view record, uint64_t) -> Status {
        ++report.records_read;
        kept.clear();
        Result<bool> keep = filter(record, kept);
        if (!keep.ok()) return keep.status();
        if (!*keep || kept.empty()) return Status::Ok();
        ++report.records_kept;
        PutFixed32(buffer, static_cast<uint32_t>(kept.size()));
        PutFixed32(buffer, Crc32c(kept));
        buffer += kept;
        if (buffer.size() >= (1u << 20)) {
          PHAROS_RETURN_IF_ERROR((*out)->Append(buffer));
          report.bytes += buffer.size();
          buffer.clear();
        }
        return Status::Ok();
      });
      if (!status.ok()) break;
    }
    if (status.ok()) {
      status = (*out)->Append(buffer);
      report.bytes += buffer.size();
    }
    if (status.ok()) status = (*out)->Sync();
    Status closed = (*out)->Close();
    if (status.ok()) status = closed;
    if (status.ok()) status = env->Rename(tmp, final_path);
    if (status.ok()) status = env->SyncDir(options_.dir);
    if (!status.ok()) {
      (void)env->Remove(tmp);
      return status.WithContext("WAL checkpoint");
    }
    // The new checkpoint is durable: what it replaces can go (a crash here leaves
    // leftovers that the next Open() removes).
    MutexLock lock(mu_);
    checkpoint_ = segment;
    if (previous) PHAROS_RETURN_IF_ERROR(env->Remove(Path(CheckpointName(previous))));
    PHAROS_RETURN_IF_ERROR(DropSegmentsBefore(segment, /*keep_current=*/true));
    metrics_.checkpoints.Inc();
    PHAROS_RETURN_IF_ERROR(env->SyncDir(options_.dir));
    return report;
  }

  Status Append(std::string_view record) override {
    return AppendBatch(std::span<const std::string_view>(&record, 1));
  }

  Status AppendBatch(std::span<const std::string_view> records) override {
    for (std::string_view r : records) {
      if (r.empty()) return InvalidArgument("WAL record is empty");
      if (r.size() > options_.max_record_bytes) {
        return InvalidArgument(fmt::format("WAL record of {} bytes exceeds the limit of {}",
                                           r.size(), options_.max_record_bytes));
      }
    }
    Writer w;
    w.records = records;
    MutexLock lock(mu_);
    writers_.push_back(&w);
    while (!w.done && &w != writers_.front()) w.cv.wait(lock.native());
    if (w.done) return w.status;

    // This writer leads: take everyone queued, write once, release them all.
    Status status = error_;
    Writer* last = &w;
    if (!status.ok() && write_failed_) status = TryResumeAfterWriteFailure();
    if (status.ok() && closed_) status = Unavailable("WAL is closed");
    if (status.ok()) {
      batch_.clear();
      uint64_t count = 0;
      for (Writer* q : writers_) {
        if (q != &w && batch_.size() > (4u << 20)) break;  // bound one write
        for (std::string_view r : q->records) {
          PutFixed32(batch_, static_cast<uint32_t>(r.size()));
          PutFixed32(batch_, Crc32c(r));
          batch_.append(r.data(), r.size());
          ++count;
        }
        last = q;
      }
      if (file_->Size() > kSegmentHeaderBytes &&
          file_->Size() + batch_.size() > options_.segment_bytes) {
        status = StartSegment(segments_.back() + 1);
      }
      bool write_failed = false;
      if (status.ok()) {
        std::shared_ptr<AppendFile> file = file_;
        uint64_t good_size = file->Size();
        std::string path = Path(SegmentName(segments_.back()));
        lock.Unlock();
        status = file->Append(batch_);
        if (!status.ok()) {
          write_failed = true;
          // Cut off what part of the batch got out, so the segment ends on a whole record.
          Status cut = options_.env->Truncate(path, good_size);
          if (!cut.ok()) write_failed = false;  // cannot tell what is on disk: stay failed
        } else if (options_.sync == SyncPolicy::kAlways) {
          status = TimedSync(*file);
        }
        lock.Lock();
        if (status.ok()) {
          dirty_ = options_.sync != SyncPolicy::kAlways;
          metrics_.records.Inc(static_cast<double>(count));
          metrics_.bytes.Inc(static_cast<double>(batch_.size()));
          metrics_.writes.Inc();
        }
      }
      if (!status.ok() && error_.ok()) {
        error_ = Unavailable(fmt::format("WAL failed, refusing writes: {}", status.message()));
        write_failed_ = write_failed;
        last_retry_ = std::chrono::steady_clock::now();
        metrics_.errors.Inc();
        LogError(write_failed ? "WAL write failed; refusing appends until a retry succeeds"
                              : "WAL failed; refusing further appends",
                 {{"error", status.message()}});
        status = error_;
      }
    }
    while (true) {
      Writer* q = writers_.front();
      writers_.pop_front();
      if (q != &w) {
        q->status = status;
        q->done = true;
        q->cv.notify_one();
      }
      if (q == last) break;
    }
    if (!writers_.empty()) writers_.front()->cv.notify_one();
    return status;
  }

  Status Sync() override {
    std::shared_ptr<AppendFile> file;
    {
      MutexLock lock(mu_);
      PHAROS_RETURN_IF_ERROR(error_);
      if (!file_) return Unavailable("WAL is closed");
      file = file_;
      dirty_ = false;
    }
    Status s = TimedSync(*file);
    if (!s.ok()) Fail(s);
    return s;
  }

  Result<uint64_t> Roll() override {
    MutexLock lock(mu_);
    PHAROS_RETURN_IF_ERROR(error_);
    uint64_t next = segments_.back() + 1;
    Status s = StartSegment(next);
    if (!s.ok()) {
      error_ = Unavailable(fmt::format("WAL failed, refusing writes: {}", s.message()));
      return s;
    }
    return next;
  }

  Status RemoveSegmentsBefore(uint64_t segment) override {
    MutexLock lock(mu_);
    PHAROS_RETURN_IF_ERROR(DropSegmentsBefore(segment, /*keep_current=*/true));
    return options_.env->SyncDir(options_.dir);
  }

  std::vector<uint64_t> Segments() const override {
    MutexLock lock(mu_);
    return segments_;
  }

  Status Close() override {
    std::shared_ptr<AppendFile> file;
    {
      MutexLock lock(mu_);
      if (closed_) return Status::Ok();
      closed_ = true;
      file = file_;
    }
    stop_cv_.notify_all();
    if (syncer_.joinable()) syncer_.join();
    Status s;
    bool healthy;
    {
      // The syncer may have failed the log meanwhile (found by -Wthread-safety: this was
      // read without the lock).
      MutexLock lock(mu_);
      healthy = error_.ok();
    }
    if (file && healthy) s = TimedSync(*file);
    MutexLock lock(mu_);
    file_.reset();
    return s;
  }

 private:
  struct Writer {
    std::span<const std::string_view> records;
    Status status;
    bool done = false;
    std::condition_variable cv;
  };

  std::string Path(const std::string& name) const { return options_.dir + "/" + name; }

  // Deletes the segments before `segment`,
  // except, with `keep_current`, the one being written.
  Status DropSegmentsBefore(uint64_t segment, bool keep_current) PHAROS_REQUIRES(mu_) {
    std::vector<uint64_t> keep;
    for (uint64_t n : segments_) {
      if (n < segment && !(keep_current && n == segments_.back())) {
        PHAROS_RETURN_IF_ERROR(options_.env->Remove(Path(SegmentName(n))));
      } else {
        keep.push_back(n);
      }
    }
    segments_ = std::move(keep);
    metrics_.segments.Set(static_cast<double>(segments_.size()));
    return Status::Ok();
  }

  // After a failed write (a full disk), at most once a second: start a fresh
  // segment; when that works, space is back and appends resume.
  Status TryResumeAfterWriteFailure() PHAROS_REQUIRES(mu_) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_retry_ < std::chrono::seconds(1)) return error_;
    last_retry_ = now;
    metrics_.write_retries.Inc();
    Status s = StartSegment(segments_.back() + 1);
    if (!s.ok()) return error_;
    LogInfo("WAL writable again; appends resume",
            {{"dir", options_.dir}, {"segment", SegmentName(segments_.back())}});
    error_ = Status::Ok();
    write_failed_ = false;
    return Status::Ok();
  }

  // Calls `fn(payload, offset)` for each intact record of a file. On damage stops, sets
  // `problem` and leaves `good_end` at the end of the last intact record.
  template <typename Fn>
  static Status ScanRecords(const std::string& data, Fn&& fn, uint64_t& good_end,
                            std::string& problem) {
    good_end = 0;
    if (data.size() < kSegmentHeaderBytes) {
      if (!data.empty())
        problem = "short segment header";
      else
        problem = "empty segment";
      return Status::Ok();
    }
    if (DecodeFixed32(data.data()) != kSegmentMagic) {
      problem = "bad segment magic";
      return Status::Ok();
    }
    if (DecodeFixed32(data.data() + 4) != kFormatVersion) {
      return DataLoss(fmt::format("WAL segment format version {} is not supported (want {})",
                                  DecodeFixed32(data.data() + 4), kFormatVersion));
    }
    uint64_t pos = kSegmentHeaderBytes;
    good_end = pos;
    while (pos < data.size()) {
      if (data.size() - pos < kRecordHeaderBytes) {
        problem = "torn record header";
        return Status::Ok();
      }
      uint32_t length = DecodeFixed32(data.data() + pos);
      uint32_t crc = DecodeFixed32(data.data() + pos + 4);
      if (length == 0) {
        problem = "zero-length record";
        return Status::Ok();
      }
      if (length > data.size() - pos - kRecordHeaderBytes) {
        problem = fmt::format("record of {} bytes runs past the end", length);
        return Status::Ok();
      }
      std::string_view payload(data.data() + pos + kRecordHeaderBytes, length);
      if (Crc32c(payload) != crc) {
        problem = "record checksum mismatch";
        return Status::Ok();
      }
      bool stop = false;
      PHAROS_RETURN_IF_ERROR(fn(payload, pos, stop, problem));
      if (stop) return Status::Ok();
      pos += kRecordHeaderBytes + length;
      good_end = pos;
    }
    return Status::Ok();
  }

  // Replays one file. A record the callback refuses fails, naming file and offset, or
  // under truncate_at_bad_record becomes the `problem` to cut at.
  Status ReplayFile(const std::string& name, const std::string& data, const ReplayFn& replay,
                    ReplayReport& rep, uint64_t& good_end, std::string& problem) {
    return ScanRecords(
        data,
        [&](std::string_view payload, uint64_t offset, bool& stop, std::string& why) -> Status {
          Status s = replay(payload, RecordPosition{name, offset});
          if (!s.ok()) {
            if (!options_.truncate_at_bad_record) {
              return DataLoss(fmt::format("WAL {}, {} offset {}: {}", options_.dir, Describe(name),
                                          offset, s.message()));
            }
            why = fmt::format("record the store cannot read: {}", s.message());
            stop = true;
            return Status::Ok();
          }
          ++rep.records;
          rep.bytes += payload.size();
          return Status::Ok();
        },
        good_end, problem);
  }

  // Every intact record of a file that was complete when written (a checkpoint's input).
  template <typename Fn>
  static Status ForEachRecord(const std::string& data, Fn&& fn) {
    uint64_t good_end;
    std::string problem;
    return ScanRecords(
        data,
        [&](std::string_view payload, uint64_t offset, bool&, std::string&) -> Status {
          return fn(payload, offset);
        },
        good_end, problem);
  }

  // Syncs the current segment, then starts
  // `number` with its header, durable in the directory.
  Status StartSegment(uint64_t number) PHAROS_REQUIRES(mu_) {
    if (file_ && !write_failed_) PHAROS_RETURN_IF_ERROR(TimedSync(*file_));
    Result<std::unique_ptr<AppendFile>> f = options_.env->OpenAppend(Path(SegmentName(number)));
    if (!f.ok()) return f.status();
    std::shared_ptr<AppendFile> file(std::move(f).value());
    if (file->Size() < kSegmentHeaderBytes) {
      Status s = file->Size() == 0 ? file->Append(SegmentHeader()) : Status::Ok();
      if (s.ok() && file->Size() != kSegmentHeaderBytes) s = Internal("short segment header");
      if (!s.ok()) {
        (void)options_.env->Remove(Path(SegmentName(number)));
        return s;
      }
    }
    PHAROS_RETURN_IF_ERROR(file->Sync());
    PHAROS_RETURN_IF_ERROR(options_.env->SyncDir(options_.dir));
    file_ = std::move(file);  // the old file closes when its last user lets go
    segments_.push_back(number);
    metrics_.segments.Set(static_cast<double>(segments_.size()));
    return Status::Ok();
  }

  Status TimedSync(AppendFile& file) {
    auto start = std::chrono::steady_clock::now();
    Status s = file.Sync();
    metrics_.fsyncs.Inc();
    metrics_.fsync_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return s;
  }

  void Fail(const Status& s) {
    MutexLock lock(mu_);
    if (!error_.ok()) return;
    error_ = Unavailable(fmt::format("WAL failed, refusing writes: {}", s.message()));
    metrics_.errors.Inc();
    LogError("WAL sync failed; refusing further appends", {{"error", s.message()}});
  }

  void SyncLoop() {
    MutexLock lock(mu_);
    while (!closed_) {
      stop_cv_.wait_for(lock.native(), options_.sync_interval);
      if (closed_ || !dirty_ || !error_.ok() || !file_) continue;
      std::shared_ptr<AppendFile> file = file_;
      dirty_ = false;
      lock.Unlock();
      Status s = TimedSync(*file);
      if (!s.ok()) Fail(s);
      lock.Lock();
    }
  }

  Options options_;
  WalMetrics metrics_;
  mutable Mutex mu_;
  std::deque<Writer*> writers_ PHAROS_GUARDED_BY(mu_);
  std::vector<uint64_t> segments_ PHAROS_GUARDED_BY(mu_);
  std::shared_ptr<AppendFile> file_ PHAROS_GUARDED_BY(mu_);
  std::string batch_;                                 // used by the leader only
  Status error_ PHAROS_GUARDED_BY(mu_);               // sticky unless write_failed_
  bool write_failed_ PHAROS_GUARDED_BY(mu_) = false;  // error_ came from a write (retried)
  std::chrono::steady_clock::time_point last_retry_ PHAROS_GUARDED_BY(mu_);
  uint64_t checkpoint_ PHAROS_GUARDED_BY(mu_) = 0;  // 0: none
  Mutex checkpoint_mu_;                             // one checkpoint at a time
  bool dirty_ PHAROS_GUARDED_BY(mu_) = false;
  bool closed_ PHAROS_GUARDED_BY(mu_) = false;
  std::condition_variable stop_cv_;
  std::thread syncer_;
};

}  // namespace

std::string SegmentName(uint64_t segment) {
  return fmt::format("{:0{}}", segment, kSegmentNameDigits);
}

std::string CheckpointName(uint64_t segment) {
  return std::string(kCheckpointPrefix) + SegmentName(segment);
}

Result<std::unique_ptr<Wal>> Wal::Open(const Options& options, const ReplayFn& replay,
                                       ReplayReport* report) {
  static selfmon::Registry* fallback = new selfmon::Registry();
  selfmon::Registry& registry = options.registry ? *options.registry : *fallback;
  auto wal = std::make_unique<WalImpl>(options, registry);
  PHAROS_RETURN_IF_ERROR(wal->OpenAndReplay(replay, report));
  return std::unique_ptr<Wal>(std::move(wal));
}

}  // namespace pharos::wal
