// The pharos binary: everything else lives in the libraries under src/.
#include "app/app.h"

extern char** environ;

int main(int argc, char** argv) { return pharos::app::Run(argc, argv, environ); }
