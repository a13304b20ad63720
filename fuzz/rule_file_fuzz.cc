// libFuzzer target: rule files and the Go-template subset of annotations. Parsing must
// never crash; every template that parses must execute (or fail) without crashing and
// within its output cap.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rules/rules.h"
#include "rules/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)pharos::rules::ParseRuleFile(text, "fuzz.yaml");
  pharos::Result<pharos::rules::Template> t = pharos::rules::Template::Parse(text);
  if (t.ok()) {
    pharos::model::Labels labels = {{"instance", "host:9100"}, {"job", "node"}};
    pharos::rules::TemplateData d;
    d.labels = &labels;
    d.value = 1234.5;
    d.external_labels = &labels;
    (void)t->Execute(d);
  }
  return 0;
}
