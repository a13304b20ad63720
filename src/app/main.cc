// The pharos binary: everything else lives in the libraries under src/.
#include <cstdlib>

#include "app/app.h"

#ifdef PHAROS_WITH_MIMALLOC
#include <mimalloc.h>
#endif

extern char** environ;

int main(int argc, char** argv) {
#ifdef PHAROS_WITH_MIMALLOC
  // mimalloc gives freed pages back to the OS after 25 ms; on a virtual machine each page
  // faulted back in costs microseconds, two thirds of a query that writes a 6 MB answer.
  // Keep them for 10 s, as jemalloc's dirty_decay_ms does, unless the environment says.
  if (std::getenv("MIMALLOC_DECOMMIT_DELAY") == nullptr &&
      std::getenv("MIMALLOC_RESET_DELAY") == nullptr) {
    mi_option_set(mi_option_decommit_delay, 10000);
  }
#endif
  return pharos::app::Run(argc, argv, environ);
}
