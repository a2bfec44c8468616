"""hnswlib's side of the ANN comparison: the same measurements as vecdb-bench's `ann` command, same files.

Run by `cargo xtask bench` inside the virtualenv it creates (target/bench-venv, `pip install hnswlib numpy`):

    python hnswlib_bench.py --dataset data/glove-50 --subset 100k --out ann-hnswlib-100k.json \
        [--efs 16,32,64] [--repetitions 3]

Protocol (as crates/vecdb-bench/src/ann.rs): cosine space, M=16, ef_construction=200, one thread
(`set_num_threads(1)` and `num_threads=1` on every call, so the work runs on the calling thread, whose CPU time,
`time.thread_time()`, is measured beside wall time, as vecdb-bench does with CLOCK_THREAD_CPUTIME_ID). The build
is one `add_items` call over the base in id order (hnswlib's C++ loop, no per-vector Python overhead). Every query
is run once per ef in one `knn_query` call (again a C++ loop, one thread), going round the ef list `repetitions`
times; each ef's fastest pass counts. Recall@k is counted the ann-benchmarks way on distances recomputed from the
unit vectors: a returned id counts when its true cosine distance is at most the k-th true distance + 1e-3.

Memory per vector: `index_file_size()` / count (the serialized index: level-0 block of links + vector + label per
element, plus the upper-level links), and the growth of this process's resident set (VmRSS in /proc/self/status)
from just before `init_index` to just after the build, / count (includes hnswlib's per-element locks and label
map, which the file does not hold).
"""

import argparse
import json
import os
import time
from importlib import metadata

import hnswlib
import numpy as np

RECALL_EPSILON = 1e-3


def resident_bytes():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def load_average():
    try:
        return [float(value) for value in os.getloadavg()]
    except OSError:
        return None


def unit_rows(values):
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return (values / norms).astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--subset", default="100k")
    parser.add_argument("--out", required=True)
    parser.add_argument("--efs", default="16,32,48,64,96,128,192,256")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    arguments = parser.parse_args()

    with open(os.path.join(arguments.dataset, "manifest.json")) as file:
        manifest = json.load(file)
    dimension = manifest["dimension"]
    truth_k = manifest["truth_k"]
    subset = manifest["subsets"][arguments.subset]
    names = {
        "100k": ("base-100k.f32", "queries-1k.f32", "truth-100k-distances.f32"),
        "full": ("base-full.f32", "queries-10k.f32", "truth-full-distances.f32"),
    }[arguments.subset]
    read = lambda name: np.fromfile(os.path.join(arguments.dataset, name), dtype="<f4")
    base = read(names[0]).reshape(-1, dimension)
    queries = read(names[1]).reshape(-1, dimension)
    truth_distances = read(names[2]).reshape(-1, truth_k)
    assert base.shape[0] == subset["base_count"] and queries.shape[0] == subset["query_count"]
    count = base.shape[0]
    base_unit = unit_rows(base)
    queries_unit = unit_rows(queries)
    k = arguments.k
    threshold = truth_distances[:, k - 1] + RECALL_EPSILON
    load = load_average()

    index = hnswlib.Index(space="cosine", dim=dimension)
    resident_before = resident_bytes()
    started = time.perf_counter()
    cpu_started = time.thread_time()
    index.init_index(max_elements=count, ef_construction=arguments.ef_construction, M=arguments.m, random_seed=100)
    index.set_num_threads(1)
    index.add_items(base, np.arange(count), num_threads=1)
    build_seconds = time.perf_counter() - started
    # With num_threads=1 hnswlib runs the work on the calling thread, so its CPU time is this thread's.
    build_cpu_seconds = time.thread_time() - cpu_started
    resident_after = resident_bytes()
    print(f"  hnswlib: built {count} in {build_seconds:.1f} s", flush=True)

    # Passes go round the ef list (pass 1 of every ef, then pass 2, ...), as in ann.rs.
    efs = [int(value) for value in arguments.efs.split(",")]
    fastest = {ef: float("inf") for ef in efs}
    fastest_cpu = {ef: float("inf") for ef in efs}
    labels = {}
    for repetition in range(arguments.repetitions):
        for ef in efs:
            index.set_ef(ef)
            started = time.perf_counter()
            cpu_started = time.thread_time()
            found, _ = index.knn_query(queries, k=k, num_threads=1)
            fastest_cpu[ef] = min(fastest_cpu[ef], time.thread_time() - cpu_started)
            fastest[ef] = min(fastest[ef], time.perf_counter() - started)
            labels.setdefault(ef, found)
    points = []
    for ef in efs:
        # Exact distances of what was returned: (queries, k).
        distances = 1.0 - np.einsum("qkd,qd->qk", base_unit[labels[ef].astype(np.int64)], queries_unit)
        recall = float((distances <= threshold[:, None]).sum()) / (labels[ef].shape[0] * k)
        queries_per_second = queries.shape[0] / fastest[ef]
        queries_per_cpu_second = queries.shape[0] / fastest_cpu[ef]
        print(
            f"  hnswlib: ef {ef:4}: recall@{k} {recall:.4f}, {queries_per_second:8.0f} queries/s, "
            f"{queries_per_cpu_second:8.0f} per CPU second",
            flush=True,
        )
        points.append(
            {
                "ef": ef,
                "recall": recall,
                "queries_per_second": queries_per_second,
                "queries_per_cpu_second": queries_per_cpu_second,
            }
        )

    resident = None
    if resident_before is not None and resident_after is not None:
        resident = max(0, resident_after - resident_before) / count
    result = {
        "library": "hnswlib",
        "version": metadata.version("hnswlib"),
        "numpy": np.__version__,
        "subset": arguments.subset,
        "base_count": count,
        "query_count": int(queries.shape[0]),
        "m": arguments.m,
        "ef_construction": arguments.ef_construction,
        "k": k,
        "threads": 1,
        "build_seconds": build_seconds,
        "build_cpu_seconds": build_cpu_seconds,
        "index_bytes_per_vector": index.index_file_size() / count,
        "resident_bytes_per_vector": resident,
        "load_average": load,
        "points": points,
    }
    with open(arguments.out + ".tmp", "w") as file:
        json.dump(result, file, indent=2)
    os.replace(arguments.out + ".tmp", arguments.out)


if __name__ == "__main__":
    main()
