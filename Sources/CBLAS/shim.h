// OpenBLAS's CBLAS interface plus openblas_set_num_threads. pkg-config's "openblas" supplies the include path.
#include <cblas.h>
