// The head and the scan cursors.
#include "colstore/head.h"

#include <algorithm>
#include <cstring>

#include "common/varint.h"

namespace pharos::colstore::internal {

std::string StreamKey(const model::Labels& labels) {
  std::string key;
  for (const model::Label& l : labels) {
    PutUvarint(key, l.name.size());
    key += l.name;
    PutUvarint(key, l.value.size());
    key += l.value;
  }
  return key;
}

bool Head::Has(const std::string& key) const {
  MutexLock lock(mu_);
  return streams_.count(key) != 0;
}

size_t Head::StreamCount() const {
  MutexLock lock(mu_);
  return streams_.size();
}

namespace {

// A stream's first block gets a small filter and each next one twice as large, up to this:
// a stream of a few lines costs little, a busy one gets blocks of block_rows lines.
constexpr uint64_t kFirstBlockAnchors = 1024;
constexpr uint64_t kMaxBlockAnchors = 16 * 1024;
// Record chunks: small for a quiet stream, 1 MiB for a busy one.
constexpr size_t kFirstChunk = 4096;
constexpr size_t kMaxChunk = 1 << 20;

}  // namespace

void Head::Add(const std::string& key, const model::Labels& labels,
               std::span<const Record> records) {
  const bool filtered = options_.filtered();
  thread_local std::vector<uint64_t> anchors;
  thread_local std::vector<size_t> ends;  // records[i]'s anchors end at ends[i]
  anchors.clear();
  ends.clear();
  for (const Record& r : records) {  // outside the lock
    if (filtered) AppendAnchors(r.text, kDefaultGramSampleShift, anchors);
    if (filtered && !r.value.empty()) {
      for (uint64_t key : ValueKeys(r.value)) anchors.push_back(key);
    }
    ends.push_back(anchors.size());
  }
  MutexLock lock(mu_);
  std::unique_ptr<Stream>& s = streams_[key];
  size_t added = 0;
  if (!s) {
    s = std::make_unique<Stream>();
    s->labels = labels;
    added += key.size() + sizeof(Stream);
  }
  for (size_t i = 0; i < records.size(); ++i) {
    size_t begin = i == 0 ? 0 : ends[i - 1];
    added += AddLocked(*s, records[i], std::span(anchors).subspan(begin, ends[i] - begin));
  }
  bytes_.fetch_add(added, std::memory_order_relaxed);
  rows_.fetch_add(records.size(), std::memory_order_relaxed);
}

size_t Head::AddLocked(Stream& s, const Record& record, std::span<const uint64_t> anchors) {
  const bool filtered = options_.filtered();
  const int64_t time_ns = record.time_ns;
  const std::string_view columns = record.columns;
  size_t added = sizeof(Entry);  // and the chunks as they are allocated
  Block* b = s.blocks.empty() ? nullptr : &s.blocks.back();
  if (!b || b->end - b->begin >= options_.block_rows ||
      (filtered && b->anchors + anchors.size() > b->capacity && b->end > b->begin)) {
    Block next;
    next.begin = next.end = s.entries.size();
    if (filtered) {
      next.capacity = b ? std::min(b->capacity * 2, kMaxBlockAnchors) : kFirstBlockAnchors;
      next.capacity = std::max<uint64_t>(next.capacity, anchors.size());
      next.filter.assign(GramFilterWords(next.capacity), 0);
      added += next.filter.size() * 8 + sizeof(Block);
    }
    s.blocks.push_back(std::move(next));
    b = &s.blocks.back();
  }
  ++b->end;
  b->min_t = std::min(b->min_t, time_ns);
  b->max_t = std::max(b->max_t, time_ns);
  b->anchors += anchors.size();
  for (uint64_t a : anchors) GramFilterInsert(b->filter, a);
  if (s.chunks.empty() || s.chunk_size - s.chunk_used < columns.size()) {
    s.chunk_size = std::max(std::min<size_t>(s.chunk_size * 2, kMaxChunk),
                            std::max(kFirstChunk, columns.size()));
    s.chunks.push_back(std::make_unique_for_overwrite<char[]>(s.chunk_size));
    s.chunk_used = 0;
    added += s.chunk_size;
  }
  char* at = s.chunks.back().get() + s.chunk_used;
  std::memcpy(at, columns.data(), columns.size());
  s.chunk_used += columns.size();
  s.entries.push_back({time_ns, at, static_cast<uint32_t>(columns.size())});
  return added;
}

std::vector<SegmentStreamInput> Head::Sorted() const {
  MutexLock lock(mu_);
  std::vector<SegmentStreamInput> out;
  out.reserve(streams_.size());
  for (const auto& [key, s] : streams_) {
    SegmentStreamInput in{&s->labels, {}};
    in.rows.reserve(s->entries.size());
    for (const Entry& e : s->entries) {
      in.rows.push_back({e.time_ns, e.bytes()});
    }
    std::stable_sort(in.rows.begin(), in.rows.end(),
                     [](const RowRef& a, const RowRef& b) { return a.time_ns < b.time_ns; });
    out.push_back(std::move(in));
  }
  std::sort(out.begin(), out.end(), [](const SegmentStreamInput& a, const SegmentStreamInput& b) {
    return model::LabelsLess(*a.labels, *b.labels);
  });
  return out;
}

void Head::ForEachStream(const std::function<void(const Stream&)>& fn) const {
  MutexLock lock(mu_);
  for (const auto& [key, s] : streams_) fn(*s);
}

bool Selection::Wanted(std::string_view name) const {
  if (Projected(name)) return true;
  return std::any_of(filters.begin(), filters.end(),
                     [&](const Filter& f) { return f.column == name; });
}

bool Selection::Projected(std::string_view name) const {
  if (std::find(skip.begin(), skip.end(), name) != skip.end()) return false;
  return all_columns || std::find(projection.begin(), projection.end(), name) != projection.end();
}

namespace {

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool ContainsAnyCase(std::string_view text, std::string_view needle) {
  if (needle.empty()) return true;
  auto it = std::search(text.begin(), text.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return AsciiLower(a) == AsciiLower(b); });
  return it != text.end();
}

bool Holds(const Value& v, const Filter& f) {
  switch (f.op) {
    case Filter::Op::kEqual: return v == f.value;
    case Filter::Op::kNotEqual: return !(v == f.value);
    case Filter::Op::kContains:
      return v.type == Value::Type::kString && f.value.type == Value::Type::kString &&
             v.s.find(f.value.s) != std::string_view::npos;
    case Filter::Op::kNotContains:
      return !(v.type == Value::Type::kString && f.value.type == Value::Type::kString &&
               v.s.find(f.value.s) != std::string_view::npos);
    case Filter::Op::kContainsAnyCase:
      return v.type == Value::Type::kString && f.value.type == Value::Type::kString &&
             ContainsAnyCase(v.s, f.value.s);
  }
  return false;
}

}  // namespace

const std::vector<std::vector<uint64_t>>& Selection::Needles(std::string_view text_column,
                                                             uint32_t shift) const {
  if (shift == needles_shift && text_column == needles_column) return needles;
  needles_column = text_column;
  needles_shift = shift;
  needles.clear();
  for (const Filter& f : filters) {
    // Anchors are case-folded: a line holding the needle in any case holds its anchors.
    if ((f.op != Filter::Op::kContains && f.op != Filter::Op::kContainsAnyCase) ||
        f.column != text_column || f.value.type != Value::Type::kString)
      continue;
    std::vector<uint64_t> grams = NeedleGrams(f.value.s, shift);
    if (!grams.empty()) needles.push_back(std::move(grams));
  }
  return needles;
}

bool Selection::Passes(std::span<const Column> columns) const {
  for (const Filter& f : filters) {
    Value v;  // null when the row lacks the column
    for (const Column& c : columns) {
      if (c.name == f.column && c.value.type != Value::Type::kNull) {
        v = c.value;
        break;
      }
    }
    if (!Holds(v, f)) return false;
  }
  return true;
}

namespace {

class SegmentStreamCursor : public Cursor {
 public:
  SegmentStreamCursor(std::shared_ptr<const Segment> segment, size_t stream,
                      const Selection* selection)
      : segment_(std::move(segment)), selection_(selection) {
    const SegmentStream& s = segment_->streams()[stream];
    labels = &s.labels;
    const SegmentInfo& info = segment_->info();
    for (const BlockRef& b : s.blocks) {
      if (b.max_t < selection->mint || b.min_t > selection->maxt) {
        ++stats.blocks_skipped;
        continue;
      }
      if (!selection->MayHold(info.text_column, info.gram_sample_shift, info.value_column, s.labels,
                              segment_->Filter(b))) {
        ++stats.blocks_filtered;
        continue;
      }
      blocks_.push_back(&b);
    }
    if (selection->backward) std::reverse(blocks_.begin(), blocks_.end());
    empty = blocks_.empty();
    if (!empty) bound = selection->backward ? blocks_.front()->max_t : blocks_.front()->min_t;
    wanted_ = [this](std::string_view name) { return selection_->Wanted(name); };
    filtered_ = [this](std::string_view name) {
      return std::any_of(selection_->filters.begin(), selection_->filters.end(),
                         [&](const Filter& f) { return f.column == name; });
    };
    two_phase_ = std::any_of(selection->filters.begin(), selection->filters.end(),
                             [](const Filter& f) { return f.op == Filter::Op::kEqual; });
  }

  bool Next() override {
    if (!selection_->filters.empty()) return NextFiltered();
    return NextRow();
  }

 private:
  // A filtered scan keeps only the rows that pass: they are copied out of each block that
  // has any and the decoded block is freed, so a time-ordered merge over many streams
  // holds matches, not blocks.
  bool NextFiltered() {
    if (next_match_ < matches_.size()) return ServeMatch();
    matches_.clear();
    match_columns_.clear();
    arena_.clear();
    next_match_ = 0;
    // Rows of blocks with no match pass through the reused decoding buffers; the first
    // block with a match is read to its end, its matches copied out. Never past that end:
    // the next block would be decoded into the buffers the matches still view.
    size_t bytes = 0;
    block_ = std::move(FilteredScratch());
    while (matches_.empty() || row_ < rows_in_block_) {
      if (!NextRow(/*may_read_block=*/matches_.empty())) break;
      matches_.push_back({time_ns, match_columns_.size(), match_columns_.size() + columns.size()});
      for (const Column& c : columns) {
        match_columns_.push_back(c);
        bytes += c.value.s.size();
      }
    }
    if (!status.ok() || matches_.empty()) {
      FilteredScratch() = std::move(block_);
      return false;
    }
    arena_.reserve(bytes);
    for (Column& c : match_columns_) {
      if (c.value.type != Value::Type::kString) continue;
      size_t at = arena_.size();
      arena_.append(c.value.s);
      c.value.s = std::string_view(arena_).substr(at, c.value.s.size());
    }
    FilteredScratch() = std::move(block_);  // the thread's, until its next filtered read
    rows_in_block_ = row_ = 0;
    return ServeMatch();
  }

  // The decoding buffers of filtered reads, one set per thread: a filtered cursor holds
  // only its matches between reads, and allocating a block's buffers for every read would
  // cost more than decoding it. Dropped when a block made them large.
  static DecodedBlock& FilteredScratch() {
    thread_local DecodedBlock scratch;
    size_t cells = 0;
    for (const std::vector<Value>& c : scratch.columns) cells += c.capacity();
    if (cells > (1u << 18)) scratch = DecodedBlock();
    return scratch;
  }

  bool ServeMatch() {
    const Match& m = matches_[next_match_++];
    time_ns = m.t;
    columns.assign(match_columns_.begin() + static_cast<ptrdiff_t>(m.begin),
                   match_columns_.begin() + static_cast<ptrdiff_t>(m.end));
    return true;
  }

  bool NextRow(bool may_read_block = true) {
    while (true) {
      if (row_ >= rows_in_block_) {
        if (!may_read_block || next_block_ >= blocks_.size()) return false;
        if (!ReadNextBlock()) return false;
        if (row_ >= rows_in_block_) continue;  // no row can pass
      }
      size_t i = selection_->backward ? rows_in_block_ - 1 - row_ : row_;
      ++row_;
      int64_t t = block_.times[i];
      if (t < selection_->mint || t > selection_->maxt) continue;
      ++stats.rows_scanned;
      if (!candidates_.empty() && !candidates_[i]) continue;
      all_.clear();
      for (size_t c = 0; c < block_.names.size(); ++c) {
        const Value& v = block_.columns[c][i];
        if (v.type != Value::Type::kNull) all_.push_back({block_.names[c], v});
      }
      if (!selection_->Passes(all_)) continue;
      time_ns = t;
      columns.clear();
      for (const Column& c : all_) {
        if (selection_->Projected(c.name)) columns.push_back(c);
      }
      return true;
    }
  }

  // Reads the next block. With an equality among the filters (a trace by id), the filtered
  // columns are decoded first: a block where no row passes them (a false positive of its
  // filter) is dropped there, and otherwise only the rows that pass are decoded whole.
  bool ReadNextBlock() {
    const BlockRef& ref = *blocks_[next_block_++];
    ++stats.blocks_read;
    row_ = 0;
    status = segment_->ReadBlock(ref, two_phase_ ? &filtered_ : &wanted_, block_);
    if (!status.ok()) return false;
    rows_in_block_ = block_.times.size();
    SearchBlock();
    if (!two_phase_) return true;
    if (std::find(candidates_.begin(), candidates_.end(), 1) == candidates_.end()) {
      row_ = rows_in_block_;
      return true;
    }
    status = segment_->ReadBlock(ref, &wanted_, block_, &candidates_);
    return status.ok();
  }

  // Marks the rows of the block that may pass the plan's "equal" and "contains" filters
  // (candidates_; empty: all may), so that the rows that cannot are skipped without
  // gathering their columns (a trace by id keeps a row or two of a block). An equality is
  // checked down its column. A column stored plain keeps its values in row order in one
  // buffer, so one memmem pass over that buffer skips the rows without the needle far
  // faster than a search per row; a hit across two values is no match. Dictionary-coded
  // columns (not in row order) are left to the check per row.
  void SearchBlock() {
    candidates_.clear();
    for (const Filter& f : selection_->filters) {
      if (f.op != Filter::Op::kEqual) continue;
      auto name = std::find(block_.names.begin(), block_.names.end(), f.column);
      hits_.assign(rows_in_block_, 0);
      if (name != block_.names.end()) {
        const std::vector<Value>& values = block_.columns[name - block_.names.begin()];
        for (size_t r = 0; r < values.size(); ++r) hits_[r] = values[r] == f.value;
      }
      if (candidates_.empty()) {
        candidates_.swap(hits_);
      } else {
        for (size_t r = 0; r < rows_in_block_; ++r) candidates_[r] &= hits_[r];
      }
    }
    for (const Filter& f : selection_->filters) {
      if (f.op != Filter::Op::kContains || f.value.type != Value::Type::kString ||
          f.value.s.empty())
        continue;
      auto name = std::find(block_.names.begin(), block_.names.end(), f.column);
      if (name == block_.names.end()) {  // no row has the column: none contains the needle
        candidates_.assign(rows_in_block_, 0);
        return;
      }
      const std::vector<Value>& values = block_.columns[name - block_.names.begin()];
      const char* lo = nullptr;
      const char* end = nullptr;  // of the previous value
      bool in_order = true;
      for (const Value& v : values) {
        if (v.type == Value::Type::kNull) continue;
        if (v.type != Value::Type::kString || (end && v.s.data() < end)) {
          in_order = false;
          break;
        }
        if (!lo) lo = v.s.data();
        end = v.s.data() + v.s.size();
      }
      if (!in_order) continue;
      hits_.assign(rows_in_block_, 0);
      std::string_view needle = f.value.s;
      const char* at = lo;
      size_t row = 0;
      while (lo && at < end) {
        const void* found = memmem(at, static_cast<size_t>(end - at), needle.data(), needle.size());
        if (!found) break;
        const char* hit = static_cast<const char*>(found);
        // The first value ending after the hit's start.
        while (row < values.size() && (values[row].type == Value::Type::kNull ||
                                       values[row].s.data() + values[row].s.size() <= hit))
          ++row;
        if (row == values.size()) break;
        const char* value_end = values[row].s.data() + values[row].s.size();
        if (hit >= values[row].s.data() && hit + needle.size() <= value_end) {
          hits_[row] = 1;
          at = value_end;  // one hit is enough for this row
          ++row;
        } else {
          at = hit + 1;  // across two values, or in the bytes between them
        }
      }
      if (candidates_.empty()) {
        candidates_.swap(hits_);
      } else {
        for (size_t r = 0; r < rows_in_block_; ++r) candidates_[r] &= hits_[r];
      }
    }
  }

  struct Match {
    int64_t t;
    size_t begin;  // into match_columns_
    size_t end;
  };
  std::vector<uint8_t> candidates_;  // by row of the block; empty: every row
  std::vector<uint8_t> hits_;
  std::vector<Match> matches_;
  size_t next_match_ = 0;
  std::vector<Column> match_columns_;
  std::string arena_;  // the matches' string values
  std::shared_ptr<const Segment> segment_;
  const Selection* selection_;
  std::vector<const BlockRef*> blocks_;
  size_t next_block_ = 0;
  DecodedBlock block_;
  size_t rows_in_block_ = 0;
  size_t row_ = 0;
  std::vector<Column> all_;
  std::function<bool(std::string_view)> wanted_;
  std::function<bool(std::string_view)> filtered_;  // the columns the filters read
  bool two_phase_ = false;  // an equality filter: decode the filtered columns first
};

class HeadStreamCursor : public Cursor {
 public:
  HeadStreamCursor(std::shared_ptr<const Head> head, const Head::Stream& stream,
                   const Selection* selection)
      : head_(std::move(head)), labels_copy_(stream.labels), selection_(selection) {
    labels = &labels_copy_;
    for (const Head::Block& b : stream.blocks) {
      if (b.max_t < selection->mint || b.min_t > selection->maxt) {
        ++stats.blocks_skipped;
        continue;
      }
      if (!selection->MayHold(head_->options().text_column, kDefaultGramSampleShift,
                              head_->options().value_column, stream.labels,
                              std::span<const uint64_t>(b.filter))) {
        ++stats.blocks_filtered;
        continue;
      }
      ++stats.blocks_read;
      for (size_t i = b.begin; i < b.end; ++i) {
        const Head::Entry& e = stream.entries[i];
        if (e.time_ns < selection->mint || e.time_ns > selection->maxt) continue;
        rows_.push_back(e);  // the record stays in its chunk, which never moves
      }
    }
    std::stable_sort(rows_.begin(), rows_.end(), [](const Head::Entry& a, const Head::Entry& b) {
      return a.time_ns < b.time_ns;
    });
    if (selection->backward) std::reverse(rows_.begin(), rows_.end());
    empty = rows_.empty();
    if (!empty) bound = rows_.front().time_ns;
  }

  bool Next() override {
    while (next_ < rows_.size()) {
      const Head::Entry& e = rows_[next_++];
      ++stats.rows_scanned;
      if (!DecodeColumns(e.bytes(), all_)) {
        status = DataLoss("corrupt record in the colstore head");
        return false;
      }
      if (!selection_->Passes(all_)) continue;
      time_ns = e.time_ns;
      columns.clear();
      for (const Column& c : all_) {
        if (c.value.type != Value::Type::kNull && selection_->Projected(c.name))
          columns.push_back(c);
      }
      return true;
    }
    return false;
  }

 private:
  std::shared_ptr<const Head> head_;
  model::Labels labels_copy_;
  const Selection* selection_;
  std::vector<Head::Entry> rows_;
  size_t next_ = 0;
  std::vector<Column> all_;
};

}  // namespace

std::unique_ptr<Cursor> SegmentCursor(std::shared_ptr<const Segment> segment, size_t stream,
                                      const Selection* selection) {
  return std::make_unique<SegmentStreamCursor>(std::move(segment), stream, selection);
}

std::unique_ptr<Cursor> HeadCursor(std::shared_ptr<const Head> head, const Head::Stream& stream,
                                   const Selection* selection) {
  return std::make_unique<HeadStreamCursor>(std::move(head), stream, selection);
}

}  // namespace pharos::colstore::internal
