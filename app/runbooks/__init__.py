"""Runbooks: loading, indexing and retrieval (docs/retrieval.md).

One BLAS thread unless the operator says otherwise. A question's dense scan is a few small
matrix-vector products on the request path; OpenBLAS's thread pool costs more in wake-ups than
it saves there (measured at 10,000 sections on a shared 2-core machine: 21 ms per search with
the default pool, 9 ms with one thread), and a service worker answers many requests at once
anyway. Set before numpy is first imported, which is here for the service.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
