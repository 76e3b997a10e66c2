"""hnswlib over the rows `compaction_recall.rs`'s ignored dump test writes:
same insertion order (file order, one thread), M 16, ef_construction 200;
prints recall@10 per ef in the dump test's format."""
import sys

import hnswlib
import numpy as np


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(dtype)


d = sys.argv[1]
base = read_vecs(f"{d}/base.fvecs", np.float32)
queries = read_vecs(f"{d}/queries.fvecs", np.float32)
gt = read_vecs(f"{d}/gt.ivecs", np.int32)
index = hnswlib.Index(space="l2", dim=base.shape[1])
index.init_index(max_elements=len(base), M=16, ef_construction=200, random_seed=int(sys.argv[2]) if len(sys.argv) > 2 else 100)
index.add_items(base, np.arange(len(base)), num_threads=1)
for ef in [10, 20, 40, 60, 100, 200]:
    index.set_ef(ef)
    labels, _ = index.knn_query(queries, k=10, num_threads=1)
    found = sum(len(set(l) & set(t)) for l, t in zip(labels, gt[:, :10]))
    print(f"hnswlib ef {ef:>3}: recall@10 {found / (10 * len(queries)):.4f}")
