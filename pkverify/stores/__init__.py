"""Path stores: where a path's weight vectors ``w_0 … w_S`` live.

* :class:`MemoryStore` — one (S+1, P) array in memory, as pkverify always held a path;
  reads are views.
* :class:`DiskStore` — a folder of ``.npy`` chunk files plus a checksummed manifest, written
  while training runs; read a chunk of rows at a time with read-ahead, so a path bigger than
  memory is never held whole (at most ``depth + 1`` chunks, 32 MiB each by default).

Both follow the :class:`PathStore` protocol: ``append(w)``, ``rows``/``steps``/``P``/
``dtype``, ``read(lo, hi)``, ``iter_chunks(lo, hi, depth)``, ``close()``, ``with``.

Why ``.npy`` chunk files and not zarr
-------------------------------------
Measured on this project's machine (a 256 MB path, P = 100,000, float64, 32-row chunks of
25.6 MB; zarr 3.1.6, numpy 2.4):

=====================  ===========  =============================
format                 write MB/s   read MB/s (warm page cache)
=====================  ===========  =============================
``.npy`` + fsync        ~100        ~1,900 (mmap: 2,000–4,300)
zarr, no compressor     ~117        ~900–1,080
zarr, zstd ("auto")     ~61         ~150–260, saving 4 % of disk
=====================  ===========  =============================

Writing is bound by the disk either way; reading plain ``.npy`` is about twice zarr's
uncompressed rate, and weights (noise-like float mantissas) do not compress. Zarr would
still need everything that makes a store safe — a manifest committed after each durable
chunk, per-chunk checksums, a lock, a partial/complete mark, resume — since zarr 3 writes
chunks in place with no commit record. ``.npy`` files add no dependency (zarr brings
numcodecs, donfig, crc32c and a 0.4 s import), any chunk opens with ``np.load`` and a Dask
worker needs nothing but numpy to read one. The store's folder name is the caller's choice
(``run.store``, ``run.zarr``, ...).

Safety (see :mod:`.disk` and :mod:`.manifest`): the manifest, replaced atomically after each
chunk is durably on disk, is the only record of what is committed; a store is ``complete``
only when its writer reached its planned rows, so an interrupted write (exception, Ctrl-C,
SIGTERM, a full disk) leaves a committed prefix that :meth:`DiskStore.open` refuses to load
as complete and :meth:`DiskStore.open_for_append` continues, bit for bit as if never stopped.
One writer at a time (``flock``); a store for another P or metadata digest, a chunk cut
short or changed, an edited manifest: each refused with a :class:`~pkverify.errors.PathStoreError`
naming what is wrong.
"""

from __future__ import annotations

from .base import CHUNK_BYTES, PathStore, store_dtype
from .disk import DiskStore
from .manifest import metadata_digest
from .memory import MemoryStore
from .readahead import ReadAhead
from .steps import iter_rows, iter_steps
from .view import StoredRows

__all__ = [
    "PathStore",
    "MemoryStore",
    "DiskStore",
    "ReadAhead",
    "StoredRows",
    "iter_rows",
    "iter_steps",
    "metadata_digest",
    "store_dtype",
    "CHUNK_BYTES",
]
