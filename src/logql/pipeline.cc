// The label set of a line, line filters, label filters, drop, keep and decolorize.
#include "logql/pipeline.h"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>

#include "common/units.h"

namespace pharos::logql {

// ---- LabelsBuilder ----

void LabelsBuilder::Reset(const model::Labels& stream, std::span<const model::Label> metadata) {
  labels_.clear();
  err_.clear();
  details_.clear();
  for (const model::Label& l : stream) labels_.push_back({l.name, l.value, LabelSource::kStream});
  for (const model::Label& l : metadata) {
    Entry* clash = Find(l.name);
    if (clash == nullptr) {
      labels_.push_back({l.name, l.value, LabelSource::kMetadata});
    } else if (clash->source == LabelSource::kStream) {
      std::string spill = l.name + "_extracted";
      if (Entry* e = Find(spill)) {
        e->value = l.value;
      } else {
        labels_.push_back({std::move(spill), l.value, LabelSource::kMetadata});
      }
    } else {
      clash->value = l.value;  // a repeated metadata key: the last wins
    }
  }
}

LabelsBuilder::Entry* LabelsBuilder::Find(std::string_view name) {
  for (Entry& e : labels_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const LabelsBuilder::Entry* LabelsBuilder::Find(std::string_view name) const {
  for (const Entry& e : labels_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const std::string* LabelsBuilder::Get(std::string_view name) const {
  if (name == kErrorLabel) return err_.empty() ? nullptr : &err_;
  if (name == kErrorDetailsLabel) return details_.empty() ? nullptr : &details_;
  const Entry* e = Find(name);
  return e == nullptr ? nullptr : &e->value;
}

void LabelsBuilder::Set(std::string_view name, std::string_view value) {
  if (name == kErrorLabel) {
    err_ = value;
    return;
  }
  if (name == kErrorDetailsLabel) {
    details_ = value;
    return;
  }
  if (Entry* e = Find(name)) {
    e->value = value;
  } else {
    labels_.push_back({std::string(name), std::string(value), LabelSource::kParsed});
  }
}

void LabelsBuilder::SetParsed(std::string_view name, std::string_view value) {
  Entry* e = Find(name);
  if (e == nullptr) {
    labels_.push_back({std::string(name), std::string(value), LabelSource::kParsed});
    return;
  }
  if (e->source == LabelSource::kParsed) {
    e->value = value;
    return;
  }
  std::string spill = std::string(name) + "_extracted";
  if (Entry* s = Find(spill)) {
    s->value = value;
    s->source = LabelSource::kParsed;
  } else {
    labels_.push_back({std::move(spill), std::string(value), LabelSource::kParsed});
  }
}

void LabelsBuilder::Delete(std::string_view name) {
  if (name == kErrorLabel) {
    err_.clear();
  } else if (name == kErrorDetailsLabel) {
    details_.clear();
  } else {
    std::erase_if(labels_, [&](const Entry& e) { return e.name == name; });
  }
}

void LabelsBuilder::SetErr(std::string_view err, std::string_view details) {
  if (!err_.empty()) return;
  err_ = err;
  if (details_.empty()) details_ = details;
}

model::Labels LabelsBuilder::Build() const {
  model::Labels out;
  out.reserve(labels_.size() + 2);
  for (const Entry& e : labels_) out.push_back({e.name, e.value});
  if (!err_.empty()) out.push_back({std::string(kErrorLabel), err_});
  if (!details_.empty()) out.push_back({std::string(kErrorDetailsLabel), details_});
  model::SortLabels(out);
  return out;
}

void LabelsBuilder::BuildCategorized(model::Labels& stream, model::Labels& metadata,
                                     model::Labels& parsed) const {
  stream.clear();
  metadata.clear();
  parsed.clear();
  for (const Entry& e : labels_) {
    model::Labels& to = e.source == LabelSource::kStream     ? stream
                        : e.source == LabelSource::kMetadata ? metadata
                                                             : parsed;
    to.push_back({e.name, e.value});
  }
  if (!err_.empty()) parsed.push_back({std::string(kErrorLabel), err_});
  if (!details_.empty()) parsed.push_back({std::string(kErrorDetailsLabel), details_});
  model::SortLabels(stream);
  model::SortLabels(metadata);
  model::SortLabels(parsed);
}

// ---- line filters ----

bool LineMatcher::Matches(std::string_view line) const {
  switch (kind) {
    case LineMatch::kContains: return line.find(text) != std::string_view::npos;
    case LineMatch::kRegex: return RE2::PartialMatch(line, *re);
    case LineMatch::kPattern: return pattern->Test(line);
    case LineMatch::kIp: return ip->MatchesWithin(line);
  }
  return false;
}

namespace {

class LineFilter : public Stage {
 public:
  LineFilter(bool negate, std::vector<LineMatcher> operands)
      : negate_(negate), operands_(std::move(operands)) {}
  bool Process(int64_t, Line& line, LabelsBuilder&) const override {
    bool any = std::any_of(operands_.begin(), operands_.end(),
                           [&](const LineMatcher& m) { return m.Matches(line.view); });
    return negate_ ? !any : any;
  }
  bool IsLineFilter() const override { return true; }

 private:
  bool negate_;
  std::vector<LineMatcher> operands_;
};

bool Holds(Compare op, double lhs, double rhs) {
  switch (op) {
    case Compare::kEq: return lhs == rhs;
    case Compare::kNeq: return lhs != rhs;
    case Compare::kGt: return lhs > rhs;
    case Compare::kGte: return lhs >= rhs;
    case Compare::kLt: return lhs < rhs;
    case Compare::kLte: return lhs <= rhs;
  }
  return false;
}

class StringLabelFilter : public Stage {
 public:
  explicit StringLabelFilter(model::Matcher m) : m_(std::move(m)) {}
  bool Process(int64_t, Line&, LabelsBuilder& labels) const override {
    const std::string* v = labels.Get(m_.name());
    return m_.Matches(v == nullptr ? std::string_view() : std::string_view(*v));
  }

 private:
  model::Matcher m_;
};

// Numeric, duration and bytes filters: a line without the label is dropped; a value that
// does not convert fails the line (the first failure names it) and keeps it.
class ConvertingLabelFilter : public Stage {
 public:
  using Convert = Result<double> (*)(std::string_view);
  ConvertingLabelFilter(std::string name, Compare op, double value, Convert convert)
      : name_(std::move(name)), op_(op), value_(value), convert_(convert) {}
  bool Process(int64_t, Line&, LabelsBuilder& labels) const override {
    // The error labels are not numbers: a filter on them drops the line.
    const std::string* v =
        name_ == kErrorLabel || name_ == kErrorDetailsLabel ? nullptr : labels.Get(name_);
    if (v == nullptr) return false;
    Result<double> x = convert_(*v);
    if (!x.ok()) {
      labels.SetErr("LabelFilterErr", x.status().message());
      return true;
    }
    return Holds(op_, *x, value_);
  }

 private:
  std::string name_;
  Compare op_;
  double value_;
  Convert convert_;
};

class IpLabelFilter : public Stage {
 public:
  IpLabelFilter(std::string name, bool negate, std::shared_ptr<const IpRange> ip)
      : name_(std::move(name)), negate_(negate), ip_(std::move(ip)) {}
  bool Process(int64_t, Line&, LabelsBuilder& labels) const override {
    if (labels.HasErr()) return true;
    const std::string* v = labels.Get(name_);
    if (v == nullptr) return false;
    bool in = ip_->MatchesWithin(*v);
    return negate_ ? !in : in;
  }

 private:
  std::string name_;
  bool negate_;
  std::shared_ptr<const IpRange> ip_;
};

class BinaryLabelFilter : public Stage {
 public:
  BinaryLabelFilter(bool is_and, StagePtr lhs, StagePtr rhs)
      : and_(is_and), lhs_(std::move(lhs)), rhs_(std::move(rhs)) {}
  bool Process(int64_t ts, Line& line, LabelsBuilder& labels) const override {
    bool l = lhs_->Process(ts, line, labels);
    if (!and_ && l) return true;
    bool r = rhs_->Process(ts, line, labels);
    return and_ ? l && r : l || r;
  }

 private:
  bool and_;
  StagePtr lhs_;
  StagePtr rhs_;
};

class Decolorize : public Stage {
 public:
  bool Process(int64_t, Line& line, LabelsBuilder&) const override {
    if (line.view.find('\x1b') == std::string_view::npos &&
        line.view.find("\xc2\x9b") == std::string_view::npos)
      return true;
    std::string out;
    out.reserve(line.view.size());
    std::string_view s = line.view;
    for (size_t i = 0; i < s.size();) {
      size_t intro = 0;
      if (s[i] == '\x1b') {
        intro = 1;
      } else if (s.substr(i, 2) == "\xc2\x9b") {
        intro = 2;
      }
      if (intro == 0) {
        out += s[i++];
        continue;
      }
      // ESC [ parameters intermediates final (CSI), or ESC and one character.
      size_t j = i + intro;
      if (j < s.size() && (s[j] == '[' || intro == 2)) {
        if (intro == 1) ++j;
        while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == ';' || s[j] == '?')) ++j;
        if (j < s.size()) ++j;  // the final byte
      } else if (j < s.size()) {
        ++j;
      }
      i = j;
    }
    line.Set(std::move(out));
    return true;
  }
};

class DropKeep : public Stage {
 public:
  DropKeep(bool keep, std::vector<NameMatcher> names) : keep_(keep), names_(std::move(names)) {}
  bool Process(int64_t, Line&, LabelsBuilder& labels) const override {
    labels.Retain([&](const std::string& name, const std::string& value) {
      for (const NameMatcher& n : names_) {
        if (n.name != name) continue;
        if (!n.matcher || n.matcher->Matches(value)) return keep_;
      }
      return !keep_;
    });
    return true;
  }

 private:
  bool keep_;
  std::vector<NameMatcher> names_;
};

}  // namespace

StagePtr MakeLineFilter(bool negate, std::vector<LineMatcher> operands) {
  return std::make_shared<LineFilter>(negate, std::move(operands));
}
StagePtr MakeStringLabelFilter(model::Matcher matcher) {
  return std::make_shared<StringLabelFilter>(std::move(matcher));
}
StagePtr MakeNumericLabelFilter(std::string name, Compare op, double value) {
  return std::make_shared<ConvertingLabelFilter>(std::move(name), op, value, &ParseGoFloat);
}
StagePtr MakeDurationLabelFilter(std::string name, Compare op, double seconds) {
  return std::make_shared<ConvertingLabelFilter>(std::move(name), op, seconds, &ParseGoDuration);
}
StagePtr MakeBytesLabelFilter(std::string name, Compare op, double bytes) {
  return std::make_shared<ConvertingLabelFilter>(std::move(name), op, bytes, &ParseHumanBytes);
}
StagePtr MakeIpLabelFilter(std::string name, bool negate, std::shared_ptr<const IpRange> ip) {
  return std::make_shared<IpLabelFilter>(std::move(name), negate, std::move(ip));
}
StagePtr MakeBinaryLabelFilter(bool is_and, StagePtr lhs, StagePtr rhs) {
  return std::make_shared<BinaryLabelFilter>(is_and, std::move(lhs), std::move(rhs));
}
StagePtr MakeDecolorize() { return std::make_shared<Decolorize>(); }
StagePtr MakeDrop(std::vector<NameMatcher> names) {
  return std::make_shared<DropKeep>(false, std::move(names));
}
StagePtr MakeKeep(std::vector<NameMatcher> names) {
  return std::make_shared<DropKeep>(true, std::move(names));
}

// ---- Pattern ----

Result<Pattern> Pattern::Parse(std::string_view text, bool allow_named) {
  Pattern p;
  size_t i = 0;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) p.nodes_.push_back({false, false, std::move(literal)});
    literal.clear();
  };
  while (i < text.size()) {
    if (text[i] == '<') {
      size_t close = text.find('>', i + 1);
      std::string_view name =
          close == std::string_view::npos ? std::string_view() : text.substr(i + 1, close - i - 1);
      bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      }) && !std::isdigit(static_cast<unsigned char>(name[0]));
      if (valid) {
        flush();
        if (!p.nodes_.empty() && p.nodes_.back().capture)
          return InvalidArgument("found consecutive capture '" + std::string(name) +
                                 "': invalid pattern");
        bool named = name != "_";
        if (named && !allow_named)
          return InvalidArgument("invalid pattern: named captures are not allowed");
        if (named) {
          if (std::find(p.names_.begin(), p.names_.end(), name) != p.names_.end())
            return InvalidArgument("duplicate capture name (" + std::string(name) +
                                   "): invalid pattern");
          p.names_.emplace_back(name);
        }
        p.nodes_.push_back({true, named, std::string(name)});
        i = close + 1;
        continue;
      }
    }
    literal += text[i++];
  }
  flush();
  if (allow_named && p.names_.empty())
    return InvalidArgument("at least one capture is required: invalid pattern");
  return p;
}

bool Pattern::Extract(std::string_view in, std::vector<std::string_view>& captures) const {
  captures.clear();
  if (in.empty() || nodes_.empty()) return false;
  size_t k = 0;
  if (!nodes_[0].capture) {
    if (in.substr(0, nodes_[0].text.size()) != nodes_[0].text) return false;
    in.remove_prefix(nodes_[0].text.size());
    k = 1;
  }
  if (k == nodes_.size()) return false;
  while (k < nodes_.size()) {
    const Node& capture = nodes_[k];
    if (k + 1 == nodes_.size()) {
      if (capture.named) captures.push_back(in);
      return true;
    }
    const std::string& lit = nodes_[k + 1].text;
    k += 2;
    size_t at = in.find(lit);
    if (at == std::string_view::npos) {
      if (capture.named) captures.push_back(in);
      return true;
    }
    if (capture.named) captures.push_back(in.substr(0, at));
    in.remove_prefix(at + lit.size());
  }
  return true;
}

bool Pattern::Test(std::string_view in) const {
  if (nodes_.empty() || in.empty()) return nodes_.empty() && in.empty();
  size_t off = 0;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const Node& n = nodes_[k];
    if (n.capture) continue;
    if (k == 0) {
      if (in.substr(0, n.text.size()) != n.text) return false;
      off = n.text.size();
      continue;
    }
    size_t at = in.find(n.text, off);
    if (at == std::string_view::npos || at == off) return false;  // captures are not empty
    off = at + n.text.size();
    if (k + 1 == nodes_.size()) {
      // A trailing literal must end the line: look for its last occurrence.
      size_t last = in.rfind(n.text);
      return last != std::string_view::npos && last + n.text.size() == in.size() && last >= at;
    }
  }
  return nodes_.back().capture ? off < in.size() : off == in.size();
}

}  // namespace pharos::logql
