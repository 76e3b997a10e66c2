#!/usr/bin/env python3
"""Drive a Qdrant-compatible server (Vego's `vego serve`) with the real qdrant-client.

    python workflow.py --url http://127.0.0.1:6333 [--api-key KEY] --phase load|verify
    python workflow.py --local PATH --phase load|verify     # same workflow, qdrant-client's local mode

Phase `load` creates collections, upserts 1,000 points (integer and UUID ids,
rich payloads) and then updates, deletes (by ids and by filter), searches,
counts, retrieves and scrolls, checking every answer against a brute-force
model computed here. Phase `verify` runs after the server restarted on the
same data directory: it recomputes the expected final state from the same
seed and checks that the server holds exactly that.

Everything is deterministic (one seed). Failures are collected so that one run
reports every mismatch; the exit status is 1 if any check failed. `--local`
runs the same checks against qdrant-client's in-process implementation of
Qdrant's semantics, which validates this script itself (checks that only make
sense against a server - HTTP status codes, API keys, the old search
endpoint - are skipped there).
"""

import argparse
import json
import math
import random
import sys
import time
import traceback
import uuid
import warnings

import numpy as np
from pydantic import BaseModel

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

SEED = 20261130
DIM = 16
N = 1000
MAIN = "vego_e2e"  # Cosine, DIM
EUC = "vego_e2e_euclid"  # Euclid, EUC_DIM; survives the restart
DOT = "vego_e2e_dot"  # Dot, created and deleted during `load`
SCRATCH = "vego_e2e_scratch"  # edge cases; created and deleted within a phase
CONC = "vego_e2e_concurrent"  # Dot, written by 4 clients at once during `load`
CONC_N, CONC_WRITERS = 800, 4
EUC_DIM = 8
EUC_N = 300
K = 10
SCORE_TOL = 1e-4
VEC_TOL = 2e-6
LOCAL_MODE = False  # set by --local
CITIES = ["berlin", "paris", "tokyo", "lima", "oslo"]
TAGS = ["red", "green", "blue", "black", "white", "gold"]


# --------------------------------------------------------------------------
# Checks


class Checker:
    def __init__(self, phase):
        self.phase = phase
        self.passed = 0
        self.failures = []
        self.section_name = "-"

    def ok(self, what):
        self.passed += 1
        print(f"ok    [{self.section_name}] {what}", flush=True)

    def fail(self, what):
        self.failures.append(f"[{self.section_name}] {what}")
        print(f"FAIL  [{self.section_name}] {what}", flush=True)

    def check(self, cond, what, detail=""):
        if cond:
            self.ok(what)
        else:
            self.fail(what + (f": {detail}" if detail else ""))
        return cond

    def section(self, name, fatal=False):
        return Section(self, name, fatal)


class Fatal(Exception):
    pass


class Section:
    """Runs a block; an unexpected exception is recorded as a failure (with
    the traceback's key line) and the workflow goes on, unless `fatal`."""

    def __init__(self, ck, name, fatal):
        self.ck, self.name, self.fatal = ck, name, fatal

    def __enter__(self):
        self.ck.section_name = self.name
        self.t0 = time.monotonic()
        print(f"--- {self.name}", flush=True)
        return self

    def __exit__(self, exc_type, exc, tb):
        dt = time.monotonic() - self.t0
        if exc is None:
            print(f"    ({dt:.2f} s)", flush=True)
            return False
        if isinstance(exc, Fatal):
            return False
        frames = traceback.extract_tb(tb)
        here = [f for f in frames if f.filename == __file__]
        where = f"workflow.py:{here[-1].lineno} `{here[-1].line}`" if here else "?"
        text = describe_exception(exc)
        self.ck.fail(f"unexpected {type(exc).__name__} at {where}: {text}")
        traceback.print_exception(exc_type, exc, tb, limit=-4, file=sys.stdout)
        if self.fatal:
            raise Fatal(self.name) from exc
        return True


def describe_exception(exc):
    if isinstance(exc, UnexpectedResponse):
        return f"HTTP {exc.status_code} {exc.content[:400]!r}"
    text = str(exc)
    return text if len(text) < 1500 else text[:1500] + " ..."


# --------------------------------------------------------------------------
# Strict JSON equality (bool != int != float, like serde_json::Value)


def json_diff(a, b, path="$"):
    """None if `a` and `b` are the same JSON value, else where they differ."""
    if type(a) is not type(b):
        return f"{path}: {a!r} ({type(a).__name__}) != {b!r} ({type(b).__name__})"
    if isinstance(a, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            d = json_diff(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: list of {len(a)} != list of {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = json_diff(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, float):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return None
        ulps = abs(int(np.float64(a).view(np.int64)) - int(np.float64(b).view(np.int64)))
        return f"{path}: float {a!r} != {b!r} ({ulps} ulp apart)"
    if a != b:
        return f"{path}: {a!r} != {b!r}"
    return None


def json_equal_but_ulps(a, b, max_ulps=4):
    """True if `a` and `b` differ only in floats a few ulps apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return set(a) == set(b) and all(json_equal_but_ulps(a[k], b[k], max_ulps) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal_but_ulps(x, y, max_ulps) for x, y in zip(a, b))
    if isinstance(a, float):
        return abs(int(np.float64(a).view(np.int64)) - int(np.float64(b).view(np.int64))) <= max_ulps
    return a == b


# Payloads whose floats came back a few ulps off: one failure per phase (with
# examples) instead of one per search hit.
FLOAT_DRIFT = {}


def payload_problem(pid, got, want):
    d = json_diff(got, want)
    if d is None:
        return None
    if json_equal_but_ulps(got, want):
        FLOAT_DRIFT.setdefault(str(pid), d)
        return None
    return f"id {pid!r}: payload differs: {d}"


# --------------------------------------------------------------------------
# Qdrant filter semantics, evaluated here on the model's payloads


def field_values(payload, key):
    """Values a field condition looks at: [] if missing, array elements flattened."""
    cur = payload
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return []
        cur = cur[part]
    if isinstance(cur, list):
        return cur
    return [cur]


def same_scalar(stored, wanted):
    if isinstance(wanted, bool):
        return isinstance(stored, bool) and stored == wanted
    if isinstance(wanted, int):
        return type(stored) is int and stored == wanted
    if isinstance(wanted, str):
        return isinstance(stored, str) and stored == wanted
    raise ValueError(f"unsupported match value {wanted!r}")


def in_range(v, r):
    return (
        (r.gt is None or v > r.gt)
        and (r.gte is None or v >= r.gte)
        and (r.lt is None or v < r.lt)
        and (r.lte is None or v <= r.lte)
    )


def as_list(x):
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def cond_ok(c, p):
    if isinstance(c, models.Filter):
        return filter_ok(c, p)
    if isinstance(c, models.FieldCondition):
        vals = field_values(p, c.key)
        if c.match is not None:
            m = c.match
            if isinstance(m, models.MatchValue):
                return any(same_scalar(v, m.value) for v in vals)
            if isinstance(m, models.MatchAny):
                return any(same_scalar(v, a) for v in vals for a in m.any)
            if isinstance(m, models.MatchExcept):
                # "at least one value not among the given ones": false for a
                # missing key, null or [], true for a value of another type
                return any(v is not None and not any(same_scalar(v, a) for a in m.except_) for v in vals)
            raise ValueError(f"unsupported match {m!r}")
        if c.range is not None:
            nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
            return any(in_range(v, c.range) for v in nums)
        raise ValueError(f"unsupported field condition {c!r}")
    if isinstance(c, models.IsEmptyCondition):
        key = c.is_empty.key
        return key not in p or p[key] is None or p[key] == []
    if isinstance(c, models.IsNullCondition):
        key = c.is_null.key
        return key in p and p[key] is None
    raise ValueError(f"unsupported condition {c!r}")


def filter_ok(f, p):
    if f is None:
        return True
    must, should, must_not = as_list(f.must), as_list(f.should), as_list(f.must_not)
    if not all(cond_ok(c, p) for c in must):
        return False
    if any(cond_ok(c, p) for c in must_not):
        return False
    if should and not any(cond_ok(c, p) for c in should):
        return False
    return True


def F(**kw):
    return models.Filter(**kw)


def match(key, value):
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def match_any(key, values):
    return models.FieldCondition(key=key, match=models.MatchAny(any=values))


def match_except(key, values):
    return models.FieldCondition(key=key, match=models.MatchExcept(**{"except": values}))


def rng_(key, **kw):
    return models.FieldCondition(key=key, range=models.Range(**kw))


def is_empty(key):
    return models.IsEmptyCondition(is_empty=models.PayloadField(key=key))


def is_null(key):
    return models.IsNullCondition(is_null=models.PayloadField(key=key))


# Named filters used for search / count / scroll (all on MAIN's payloads).
FILTERS = [
    ("none", None),
    ("city=paris", F(must=[match("city", "paris")])),
    ("n in [20,60) and not flag", F(must=[rng_("n", gte=20, lt=60)], must_not=[match("flag", True)])),
    ("city any tokyo/lima or tags has red", F(should=[match_any("city", ["tokyo", "lima"]), match("tags", "red")])),
    (
        "0.25<x<=0.75 and (n<10 or n>=90)",
        F(must=[rng_("x", gt=0.25, lte=0.75)], should=[rng_("n", lt=10), rng_("n", gte=90)]),
    ),
    ("not city except berlin", F(must_not=[match_except("city", ["berlin"])])),
    ("tags is_empty", F(must=[is_empty("tags")])),
    ("opt is_null", F(must=[is_null("opt")])),
    ("not opt is_empty", F(must_not=[is_empty("opt")])),
    (
        "nested: (oslo or (flag and n<30)) and not tags any blue",
        F(
            must=[F(should=[match("city", "oslo"), F(must=[match("flag", True), rng_("n", lt=30)])])],
            must_not=[F(must=[match_any("tags", ["blue"])])],
        ),
    ),
    ("n=7 and flag=false (selective)", F(must=[match("n", 7), match("flag", False)])),
    ("nums has >=97 (array range)", F(must=[rng_("nums", gte=97)])),
    ("nums any 3/5 and city except paris/oslo", F(must=[match_any("nums", [3, 5]), match_except("city", ["paris", "oslo"])])),
    ("rev=1 (overwritten)", F(must=[match("rev", 1)])),
    ("label exact", F(must=[match("label", "pt-12-ü✓ \"q\"")])),
    ("tags except red/green (array: some other tag)", F(must=[match_except("tags", ["red", "green"])])),
    ("opt except 1/2 (not for missing, null, [])", F(must=[match_except("opt", [1, 2])])),
    ("nested keys: meta.level >= 3 and meta.name any PARIS/OSLO", F(must=[rng_("meta.level", gte=3), match_any("meta.name", ["PARIS", "OSLO"])])),
    ("whole = 3: an integer does not match the float 3.0", F(must=[match("whole", 3)])),
    ("n = true / flag = 1: no match across types", F(should=[match("n", True), match("flag", 1)])),
    ("must_not on a key no point has (all match)", F(must_not=[match("nope", "x")])),
    ("an empty filter (all match)", F()),
    ("nothing matches", F(must=[match("city", "atlantis")])),
]

DELETE_FILTER = F(must=[match("city", "oslo"), rng_("n", lt=30)], must_not=[match("flag", True)])


# --------------------------------------------------------------------------
# The deterministic plan and the model


def gen_vector(rng, dim, scale=1.0):
    return [rng.gauss(0.0, 1.0) * scale for _ in range(dim)]


def gen_payload(rng, i, rev):
    p = {
        "i": i,
        "rev": rev,
        "n": rng.randrange(100),
        "x": rng.random(),
        "city": rng.choice(CITIES),
        "flag": rng.random() < 0.5,
        "tags": rng.sample(TAGS, rng.randrange(4)),
        "nums": [rng.randrange(100) for _ in range(rng.randrange(1, 4))],
        "label": f"pt-{i}-ü✓ \"q\"",
        "big": rng.randrange(-(2**63), 2**63),
        "whole": float(rng.randrange(10)),  # an integral float stays a float
        "meta": {
            "level": rng.randrange(5),
            "name": rng.choice(CITIES).upper(),
            "inner": {"k": [1, "two", None, {"deep": True}], "f": 0.1 + 0.2 * rev},
        },
    }
    r = rng.random()
    if r < 0.2:
        pass  # "opt" missing
    elif r < 0.4:
        p["opt"] = None
    elif r < 0.5:
        p["opt"] = []
    else:
        p["opt"] = rng.randrange(10)
    if i % 50 == 0:
        p["empty_str"] = ""
    return p


def gen_ids(rng, n):
    ids, seen = [], set()
    while len(ids) < n:
        if len(ids) % 3 == 0:
            pid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        else:
            # varied magnitudes: numeric, not lexicographic, order matters
            pid = rng.randrange(1, 10 ** rng.randint(1, 15))
        if pid not in seen:
            seen.add(pid)
            ids.append(pid)
    return ids


def id_key(pid):
    """Qdrant's point order: integer ids ascending, then UUIDs ascending."""
    return (1, pid) if isinstance(pid, str) else (0, pid)


class Plan:
    """Everything `load` does, generated from SEED; `final` is the model of
    MAIN after `load`."""

    def __init__(self):
        rng = random.Random(SEED)
        self.ids = gen_ids(rng, N)
        self.initial = {pid: (gen_vector(rng, DIM), gen_payload(rng, i, 0)) for i, pid in enumerate(self.ids)}
        # batches of varied sizes, alternating the `points` and the `batch` form
        sizes, left = [], N
        for s in [1, 7, 100, 250, 42, 300]:
            sizes.append(min(s, left))
            left -= sizes[-1]
        while left > 0:
            sizes.append(min(150, left))
            left -= sizes[-1]
        self.batches, pos = [], 0
        for b, s in enumerate(sizes):
            self.batches.append(("points" if b % 2 == 0 else "batch", self.ids[pos : pos + s]))
            pos += s
        # overwrite 60 existing points with new vectors and payloads (rev 1)
        ow = rng.sample(self.ids, 60)
        self.overwrites = {pid: (gen_vector(rng, DIM), gen_payload(rng, self.ids.index(pid), 1)) for pid in ow}
        # a bad batch: good points plus one of the wrong dimension (nothing may land)
        self.bad_batch = [(10**15 + j, gen_vector(rng, DIM), {"bad": j}) for j in range(5)]
        self.bad_batch.append((10**15 + 5, gen_vector(rng, DIM + 1), {"bad": 5}))
        # delete 80 by ids (some of them overwritten), plus ids that never existed
        self.delete_ids = rng.sample(self.ids, 70) + rng.sample(ow, 10)
        self.delete_ids = list(dict.fromkeys(self.delete_ids))
        self.delete_ids += [424242424242, str(uuid.UUID(int=rng.getrandbits(128), version=4))]
        self.queries = [gen_vector(rng, DIM) for _ in range(6)]
        # the Euclid collection
        self.euc = {j: (gen_vector(rng, EUC_DIM, 10.0), {"g": j % 7, "s": f"e{j}"}) for j in range(1, EUC_N + 1)}
        self.euc_queries = [gen_vector(rng, EUC_DIM, 10.0) for _ in range(4)]
        self.dot = {j: (gen_vector(rng, EUC_DIM), {"d": j}) for j in range(50)}
        self.dot_query = gen_vector(rng, EUC_DIM)

        # model after load
        state = dict(self.initial)
        state.update(self.overwrites)
        self.after_overwrite = dict(state)
        for pid in self.delete_ids:
            state.pop(pid, None)
        self.after_delete_ids = dict(state)
        self.filter_deleted = [pid for pid, (_, p) in state.items() if filter_ok(DELETE_FILTER, p)]
        for pid in self.filter_deleted:
            del state[pid]
        self.final = state
        self.deleted = [pid for pid in self.ids if pid not in self.final]


def f32(v):
    return np.asarray(v, dtype=np.float32)


def normalized(v):
    a = f32(v).astype(np.float64)
    return a / np.linalg.norm(a)


def stored_vector(v, distance):
    return normalized(v) if distance == models.Distance.COSINE else f32(v).astype(np.float64)


def brute_force(state, query, distance, flt, k):
    """[(id, score)] best first, as Qdrant scores: cosine similarity, dot
    product (higher is better) or Euclidean distance (lower is better)."""
    q = np.asarray(query, dtype=np.float64)
    if distance == models.Distance.COSINE:
        q = normalized(query)
    out = []
    for pid, (vec, payload) in state.items():
        if not filter_ok(flt, payload):
            continue
        v = stored_vector(vec, distance)
        if distance == models.Distance.EUCLID:
            s = float(np.linalg.norm(v - f32(query).astype(np.float64)))
        else:
            s = float(np.dot(v, q))
        out.append((pid, s))
    desc = distance != models.Distance.EUCLID
    out.sort(key=lambda t: -t[1] if desc else t[1])
    return out, out[:k]


# --------------------------------------------------------------------------
# Comparisons


def check_hits(ck, what, hits, state, query, distance, flt, k, with_vectors=False, max_report=3):
    """Qdrant with this few points scans exactly: the hits must be the true
    top k (order and scores within SCORE_TOL; near-ties may swap), each
    satisfying the filter, with its payload, k of them when >= k match."""
    matching, expected = brute_force(state, query, distance, flt, k)
    problems = []
    got_ids = [h.id for h in hits]
    if len(hits) != len(expected):
        problems.append(f"{len(hits)} hits, expected {len(expected)} ({len(matching)} points match)")
    if len(set(map(str, got_ids))) != len(got_ids):
        problems.append(f"duplicate ids in {got_ids}")
    desc = distance != models.Distance.EUCLID
    for rank, h in enumerate(hits):
        if h.id not in state:
            problems.append(f"rank {rank}: id {h.id!r} is not a live point")
            continue
        vec, payload = state[h.id]
        if not filter_ok(flt, payload):
            problems.append(f"rank {rank}: id {h.id!r} does not satisfy the filter (payload {payload})")
        true_score = dict(matching)[h.id] if filter_ok(flt, payload) else None
        tol = SCORE_TOL * max(1.0, abs(h.score))
        if true_score is not None and abs(h.score - true_score) > tol:
            problems.append(f"rank {rank}: id {h.id!r} score {h.score} != {true_score}")
        if rank < len(expected) and abs(h.score - expected[rank][1]) > tol:
            problems.append(
                f"rank {rank}: got {h.id!r} score {h.score}, expected {expected[rank][0]!r} score {expected[rank][1]}"
            )
        if rank > 0:
            prev = hits[rank - 1].score
            if (desc and h.score > prev + 1e-6) or (not desc and h.score < prev - 1e-6):
                problems.append(f"rank {rank}: scores not ordered ({prev} then {h.score})")
        if h.payload is None:
            problems.append(f"rank {rank}: id {h.id!r} without payload")
        else:
            d = payload_problem(h.id, h.payload, payload)
            if d:
                problems.append(f"rank {rank}: {d}")
        if with_vectors:
            problems += vector_problems(h.id, h.vector, vec, distance)
        elif h.vector is not None:
            problems.append(f"rank {rank}: id {h.id!r} has a vector though with_vectors=False")
    if problems:
        ck.fail(f"{what}: " + "; ".join(problems[:max_report]) + (f" (+{len(problems) - max_report} more)" if len(problems) > max_report else ""))
    else:
        ck.ok(f"{what}: {len(hits)} hits ({len(matching)} match)")
    return not problems


def vector_problems(pid, got, vec, distance):
    if got is None:
        return [f"id {pid!r}: no vector"]
    if isinstance(got, dict):
        return [f"id {pid!r}: vector is a named-vector map {list(got)}"]
    want = stored_vector(vec, distance)
    g = np.asarray(got, dtype=np.float64)
    if LOCAL_MODE and distance == models.Distance.COSINE and g.shape == want.shape:
        # qdrant-client's local mode hands back the unnormalized vectors
        # after reopening its storage; the server must not.
        g = g / np.linalg.norm(g)
    if g.shape != want.shape:
        return [f"id {pid!r}: vector of {g.shape[0]} dims, expected {want.shape[0]}"]
    err = float(np.max(np.abs(g - want)))
    if err > VEC_TOL * max(1.0, float(np.max(np.abs(want)))):
        return [f"id {pid!r}: vector differs by {err} (got {list(g[:3])}..., want {list(want[:3])}...)"]
    return []


def check_records(ck, what, records, state, distance, with_payload, with_vectors, expected_ids):
    problems = []
    got = [r.id for r in records]
    got_keys, want_keys = [str(g) for g in got], {str(w) for w in expected_ids}
    missing = [w for w in expected_ids if str(w) not in set(got_keys)]
    extra = [g for g in got if str(g) not in want_keys]
    dups = sorted({g for g in got_keys if got_keys.count(g) > 1})
    if missing or extra or dups:
        problems.append(f"{len(got)} records, expected {len(expected_ids)}: missing {missing[:5]}, unexpected {extra[:5]}, duplicated {dups[:5]}")
    for r in records:
        if r.id not in state:
            continue
        vec, payload = state[r.id]
        if with_payload:
            if r.payload is None:
                problems.append(f"id {r.id!r}: no payload")
            else:
                d = payload_problem(r.id, r.payload, payload)
                if d:
                    problems.append(d)
        elif r.payload is not None:
            problems.append(f"id {r.id!r}: payload {r.payload} though with_payload=False")
        if with_vectors:
            problems += vector_problems(r.id, r.vector, vec, distance)
        elif r.vector is not None:
            problems.append(f"id {r.id!r}: vector though with_vectors=False")
    if problems:
        ck.fail(f"{what}: " + "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""))
    else:
        ck.ok(f"{what}: {len(records)} records")
    return not problems


# --------------------------------------------------------------------------
# The workflow


class SearchResult(BaseModel):
    """Response of the old POST /collections/{c}/points/search (gone from
    qdrant-client 1.20's API classes, still served by Qdrant)."""

    result: list[models.ScoredPoint]
    status: str | None = None
    time: float | None = None


class Workflow:
    def __init__(self, args):
        self.args = args
        self.local = args.local is not None
        self.ck = Checker(args.phase)
        self.plan = Plan()
        self.client = self.make_client(args.api_key)

    def make_client(self, api_key, **kw):
        if self.local:
            return QdrantClient(path=self.args.local)
        return QdrantClient(url=self.args.url, api_key=api_key, timeout=60, check_compatibility=False, **kw)

    # --- helpers

    def expect_error(self, what, fn, statuses):
        """`fn` must fail: with UnexpectedResponse of one of `statuses` and a
        Qdrant-shaped error body ({"status": {"error": "..."}}) against a
        server; with any exception in local mode."""
        ck = self.ck
        try:
            fn()
        except UnexpectedResponse as e:
            if e.status_code not in statuses:
                ck.fail(f"{what}: expected HTTP {statuses}, got {e.status_code}: {e.content[:300]!r}")
                return
            try:
                body = e.structured()
                shaped = isinstance(body.get("status"), dict) and isinstance(body["status"].get("error"), str)
            except Exception:
                shaped = False
            ck.check(shaped, f"{what}: HTTP {e.status_code} with an error message", f"body {e.content[:300]!r}")
            return
        except Exception as e:
            if self.local:
                ck.ok(f"{what}: {type(e).__name__} (local mode)")
            else:
                ck.fail(f"{what}: expected UnexpectedResponse {statuses}, got {type(e).__name__}: {describe_exception(e)}")
            return
        ck.fail(f"{what}: expected an error ({statuses}), the call succeeded")

    def upsert_ok(self, what, collection, points):
        r = self.client.upsert(collection, points=points, wait=True)
        self.ck.check(r.status == models.UpdateStatus.COMPLETED, f"{what}: status completed", f"got {r}")

    def query(self, collection, q, flt, k, with_vectors=False):
        return self.client.query_points(
            collection, query=q, query_filter=flt, limit=k, with_payload=True, with_vectors=with_vectors
        ).points

    def old_search(self, collection, q, flt, k):
        body = {"vector": q, "limit": k, "with_payload": True}
        if flt is not None:
            body["filter"] = json.loads(flt.model_dump_json(by_alias=True, exclude_none=True))
        return self.client.http.client.request(
            type_=SearchResult,
            method="POST",
            url="/collections/{collection_name}/points/search",
            path_params={"collection_name": collection},
            headers={"Content-Type": "application/json"},
            content=json.dumps(body),
        ).result

    def check_searches(self, state, label, queries, with_old=True):
        for qi, q in enumerate(queries):
            for fi, (fname, flt) in enumerate(FILTERS):
                k = K if (qi + fi) % 3 else 25
                wv = (qi + fi) % 4 == 0
                hits = self.query(MAIN, q, flt, k, with_vectors=wv)
                check_hits(self.ck, f"{label} query q{qi} k={k} [{fname}]", hits, state, q, models.Distance.COSINE, flt, k, wv)
                if with_old and not self.local and qi < 2:
                    hits = self.old_search(MAIN, q, flt, k)
                    check_hits(self.ck, f"{label} old search q{qi} k={k} [{fname}]", hits, state, q, models.Distance.COSINE, flt, k)

    def check_counts(self, state, label):
        ck = self.ck
        got = self.client.count(MAIN, exact=True).count
        ck.check(got == len(state), f"{label} count = {len(state)}", f"got {got}")
        for fname, flt in FILTERS[1:]:
            want = sum(1 for _, p in state.values() if filter_ok(flt, p))
            got = self.client.count(MAIN, count_filter=flt, exact=True).count
            ck.check(got == want, f"{label} count [{fname}] = {want}", f"got {got}")

    def scroll_all(self, collection, flt=None, limit=64, with_vectors=True):
        out, offset, pages = [], None, 0
        while True:
            recs, offset = self.client.scroll(
                collection, scroll_filter=flt, limit=limit, offset=offset, with_payload=True, with_vectors=with_vectors
            )
            pages += 1
            out += recs
            if offset is None or pages > 10_000:
                return out, pages

    def check_scroll(self, state, collection, distance, label, flt=None, limit=64):
        recs, pages = self.scroll_all(collection, flt, limit)
        want_ids = sorted((pid for pid, (_, p) in state.items() if filter_ok(flt, p)), key=id_key)
        got_ids = [r.id for r in recs]
        self.ck.check(
            got_ids == want_ids,
            f"{label}: {len(want_ids)} ids, each once, in Qdrant order (ints ascending, then UUIDs), {pages} pages of {limit}",
            first_difference(got_ids, want_ids),
        )
        check_records(self.ck, f"{label}: payloads and vectors", recs, state, distance, True, True, want_ids)

    def check_collection_info(self, name, size, distance, points):
        info = self.client.get_collection(name)
        v = info.config.params.vectors
        self.ck.check(
            isinstance(v, models.VectorParams) and v.size == size and v.distance == distance,
            f"get_collection {name}: vectors size {size} {distance.value}",
            f"got {v!r}",
        )
        self.ck.check(info.points_count == points, f"get_collection {name}: points_count {points}", f"got {info.points_count}")

    # --- phases

    def phase_load(self):
        ck, c, plan = self.ck, self.client, self.plan

        with ck.section("setup", fatal=True):
            for name in (MAIN, EUC, DOT, SCRATCH, CONC):
                if c.collection_exists(name):
                    c.delete_collection(name)
            self.probe_root()

        with ck.section("collections", fatal=True):
            for name, size, dist in [(MAIN, DIM, models.Distance.COSINE), (EUC, EUC_DIM, models.Distance.EUCLID), (DOT, EUC_DIM, models.Distance.DOT)]:
                r = c.create_collection(name, vectors_config=models.VectorParams(size=size, distance=dist))
                ck.check(r is True, f"create_collection {name} ({dist.value}) -> True", f"got {r!r}")
            names = {d.name for d in c.get_collections().collections}
            ck.check({MAIN, EUC, DOT} <= names, "get_collections lists the three", f"got {sorted(names)}")
            ck.check(c.collection_exists(MAIN) is True, "collection_exists(main) -> True")
            ck.check(c.collection_exists("vego_e2e_missing") is False, "collection_exists(missing) -> False")
            self.check_collection_info(MAIN, DIM, models.Distance.COSINE, 0)
            self.check_collection_info(EUC, EUC_DIM, models.Distance.EUCLID, 0)
            for key, schema in [("city", models.PayloadSchemaType.KEYWORD), ("n", models.PayloadSchemaType.INTEGER)]:
                r = c.create_payload_index(MAIN, field_name=key, field_schema=schema, wait=True)
                ck.check(r.status == models.UpdateStatus.COMPLETED, f"create_payload_index {key} ({schema.value}): completed", f"got {r}")
            self.expect_error(
                "create an existing collection",
                lambda: c.create_collection(MAIN, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)),
                (400, 409),
            )

        with ck.section("outside the subset / bad requests"):
            if not self.local:
                self.expect_error(
                    "create a Manhattan collection",
                    lambda: c.create_collection(SCRATCH, vectors_config=models.VectorParams(size=4, distance=models.Distance.MANHATTAN)),
                    (400,),
                )
                ck.check(c.collection_exists(SCRATCH) is False, "the refused Manhattan collection does not exist")
                self.expect_error(
                    "create a collection with named vectors",
                    lambda: c.create_collection(
                        SCRATCH, vectors_config={"img": models.VectorParams(size=4, distance=models.Distance.DOT)}
                    ),
                    (400,),
                )
                ck.check(c.collection_exists(SCRATCH) is False, "the refused named-vectors collection does not exist")
            self.expect_error("get_collection(missing)", lambda: c.get_collection("vego_e2e_missing"), (404,))
            self.expect_error("query_points on a missing collection", lambda: c.query_points("vego_e2e_missing", query=[0.0] * DIM, limit=3), (404,))
            self.expect_error(
                "upsert into a missing collection",
                lambda: c.upsert("vego_e2e_missing", points=[models.PointStruct(id=1, vector=[1.0] * DIM)]),
                (404,),
            )

        with ck.section("upsert 1000 points", fatal=True):
            for form, ids in plan.batches:
                if form == "points":
                    pts = [models.PointStruct(id=pid, vector=plan.initial[pid][0], payload=plan.initial[pid][1]) for pid in ids]
                else:
                    pts = models.Batch(ids=ids, vectors=[plan.initial[p][0] for p in ids], payloads=[plan.initial[p][1] for p in ids])
                self.upsert_ok(f"upsert {len(ids)} ({form} form)", MAIN, pts)
            got = c.count(MAIN, exact=True).count
            ck.check(got == N, f"count after upsert = {N}", f"got {got}")

        with ck.section("a batch with one wrong-dimension vector is refused whole"):
            bad = [models.PointStruct(id=pid, vector=v, payload=p) for pid, v, p in plan.bad_batch]
            self.expect_error("upsert with a wrong dimension", lambda: c.upsert(MAIN, points=bad), (400,))
            ck.check(c.count(MAIN, exact=True).count == N, "count unchanged after the refused batch")
            got = c.retrieve(MAIN, ids=[pid for pid, _, _ in plan.bad_batch])
            ck.check(got == [], "no point of the refused batch landed", f"got {[r.id for r in got]}")
            self.expect_error("query with a wrong dimension", lambda: c.query_points(MAIN, query=[0.5] * (DIM + 3), limit=3), (400,))

        with ck.section("overwrite 60 points", fatal=True):
            ow = list(plan.overwrites.items())
            self.upsert_ok("re-upsert 30 (points form)", MAIN, [models.PointStruct(id=pid, vector=v, payload=p) for pid, (v, p) in ow[:30]])
            self.upsert_ok(
                "re-upsert 30 (batch form)",
                MAIN,
                models.Batch(ids=[pid for pid, _ in ow[30:]], vectors=[v for _, (v, _) in ow[30:]], payloads=[p for _, (_, p) in ow[30:]]),
            )
            got = c.count(MAIN, exact=True).count
            ck.check(got == N, f"count after overwrites still {N}", f"got {got}")

        state = plan.after_overwrite
        with ck.section("search after upsert"):
            self.check_searches(state, "loaded", plan.queries[:3])

        with ck.section("retrieve"):
            some = plan.ids[::37] + [777777777777777, str(uuid.UUID(int=12345, version=4))]
            present = [pid for pid in some if pid in state]
            for wp, wv in [(True, True), (True, False), (False, True), (False, False)]:
                recs = c.retrieve(MAIN, ids=some, with_payload=wp, with_vectors=wv)
                check_records(ck, f"retrieve {len(some)} ids (with_payload={wp}, with_vectors={wv})", recs, state, models.Distance.COSINE, wp, wv, present)
            ck.check(c.retrieve(MAIN, ids=[]) == [], "retrieve no ids -> []")

        with ck.section("count"):
            self.check_counts(state, "loaded")

        with ck.section("search options beyond the subset: refused with 4xx or honoured, never ignored"):
            self.beyond_the_subset(state)

        with ck.section("delete by ids", fatal=True):
            r = c.delete(MAIN, points_selector=models.PointIdsList(points=plan.delete_ids), wait=True)
            ck.check(r.status == models.UpdateStatus.COMPLETED, f"delete {len(plan.delete_ids)} ids (2 never existed): completed", f"got {r}")
            left = c.retrieve(MAIN, ids=plan.delete_ids)
            ck.check(left == [], "the deleted ids are gone", f"still there: {[x.id for x in left]}")
            got = c.count(MAIN, exact=True).count
            ck.check(got == len(plan.after_delete_ids), f"count = {len(plan.after_delete_ids)}", f"got {got}")

        with ck.section("delete by filter", fatal=True):
            want = sum(1 for _, p in plan.after_delete_ids.values() if filter_ok(DELETE_FILTER, p))
            got = c.count(MAIN, count_filter=DELETE_FILTER, exact=True).count
            ck.check(got == want == len(plan.filter_deleted), f"{want} points match the delete filter", f"server counts {got}")
            r = c.delete(MAIN, points_selector=models.FilterSelector(filter=DELETE_FILTER), wait=True)
            ck.check(r.status == models.UpdateStatus.COMPLETED, "delete by filter: completed", f"got {r}")
            got = c.count(MAIN, count_filter=DELETE_FILTER, exact=True).count
            ck.check(got == 0, "nothing matches the delete filter any more", f"got {got}")
            got = c.count(MAIN, exact=True).count
            ck.check(got == len(plan.final), f"count = {len(plan.final)}", f"got {got}")

        self.check_final_state("load")

        with ck.section("Euclid collection"):
            self.upsert_ok(
                f"upsert {EUC_N} (batch form)",
                EUC,
                models.Batch(ids=list(plan.euc), vectors=[v for v, _ in plan.euc.values()], payloads=[p for _, p in plan.euc.values()]),
            )
            # the client's upload helper, numpy vectors included
            extra = {EUC_N + j: (gen_vector(random.Random(j), EUC_DIM, 10.0), {"g": 99}) for j in range(1, 41)}
            c.upload_points(EUC, points=[models.PointStruct(id=j, vector=np.asarray(v, dtype=np.float32), payload=p) for j, (v, p) in extra.items()], batch_size=16, wait=True)
            got = c.count(EUC, exact=True).count
            ck.check(got == EUC_N + 40, f"upload_points of 40 more (numpy vectors, batches of 16): count {EUC_N + 40}", f"got {got}")
            r = c.delete(EUC, points_selector=models.FilterSelector(filter=F(must=[match("g", 99)])), wait=True)
            got = c.count(EUC, exact=True).count
            ck.check(r.status == models.UpdateStatus.COMPLETED and got == EUC_N, f"deleted them by filter again: count {EUC_N}", f"got {r.status}, {got}")
            self.check_euclid("load")

        with ck.section("Dot collection, then delete it"):
            self.upsert_ok("upsert 50", DOT, [models.PointStruct(id=j, vector=v, payload=p) for j, (v, p) in plan.dot.items()])
            hits = self.query(DOT, plan.dot_query, None, 7)
            check_hits(ck, "dot query k=7", hits, plan.dot, plan.dot_query, models.Distance.DOT, None, 7)
            flt = F(must=[rng_("d", gte=10, lt=20)])
            hits = self.query(DOT, plan.dot_query, flt, 7)
            check_hits(ck, "dot query k=7 [10<=d<20]", hits, plan.dot, plan.dot_query, models.Distance.DOT, flt, 7)
            ck.check(c.delete_collection(DOT) is True, "delete_collection(dot) -> True")
            ck.check(c.collection_exists(DOT) is False, "collection_exists(dot) -> False after delete")
            names = {d.name for d in c.get_collections().collections}
            ck.check(DOT not in names and {MAIN, EUC} <= names, "get_collections no longer lists it", f"got {sorted(names)}")
            self.expect_error("get_collection(deleted)", lambda: c.get_collection(DOT), (404,))

        self.edge_cases()
        self.concurrent_writers()
        self.check_auth()

    def conc_model(self):
        rng = random.Random(SEED + 7)
        return {i: (gen_vector(rng, EUC_DIM), {"w": i % CONC_WRITERS, "i": i}) for i in range(1, CONC_N + 1)}

    def check_concurrent(self, label):
        ck, c = self.ck, self.client
        model = self.conc_model()
        got = c.count(CONC, exact=True).count
        ck.check(got == CONC_N, f"{label}: count {CONC_N}", f"got {got}")
        self.check_scroll(model, CONC, models.Distance.DOT, f"{label}: scroll {CONC}", limit=128)
        q = gen_vector(random.Random(SEED + 8), EUC_DIM)
        for flt in [None, F(must=[match("w", 2)]), F(must=[rng_("i", gte=100, lt=110)])]:
            check_hits(ck, f"{label}: query {CONC}", self.query(CONC, q, flt, K), model, q, models.Distance.DOT, flt, K)

    def concurrent_writers(self):
        """Four clients upsert disjoint points at once (batches of 20) while a
        fifth searches; every acknowledged point must be there, once."""
        import threading

        ck, c = self.ck, self.client
        model = self.conc_model()
        with ck.section("concurrent writers and a reader"):
            c.create_collection(CONC, vectors_config=models.VectorParams(size=EUC_DIM, distance=models.Distance.DOT))
            errors, stop = [], threading.Event()

            def writer(w):
                cl = self.make_client(self.args.api_key)
                try:
                    ids = [i for i in model if i % CONC_WRITERS == w]
                    for b in range(0, len(ids), 20):
                        pts = [models.PointStruct(id=i, vector=model[i][0], payload=model[i][1]) for i in ids[b : b + 20]]
                        r = cl.upsert(CONC, points=pts, wait=True)
                        if r.status != models.UpdateStatus.COMPLETED:
                            errors.append(f"writer {w}: {r}")
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(f"writer {w}: {type(e).__name__}: {describe_exception(e)}")
                finally:
                    cl.close()

            def reader():
                cl = self.make_client(self.args.api_key)
                q, n = [1.0] * EUC_DIM, 0
                try:
                    while not stop.is_set() or n == 0:
                        hits = cl.query_points(CONC, query=q, query_filter=F(must=[match("w", 1)]), limit=10).points
                        n += 1
                        if any(h.payload.get("w") != 1 for h in hits) or len({h.id for h in hits}) != len(hits):
                            errors.append(f"reader: bad hits {[(h.id, h.payload) for h in hits]}")
                            return
                finally:
                    cl.close()

            if self.local:  # local mode is one process-local store: no concurrency to test
                self.upsert_ok(f"upsert {CONC_N} (local mode: sequentially)", CONC, [models.PointStruct(id=i, vector=v, payload=p) for i, (v, p) in model.items()])
            else:
                writer_threads = [threading.Thread(target=writer, args=(w,)) for w in range(CONC_WRITERS)]
                rt = threading.Thread(target=reader)
                rt.start()
                for t in writer_threads:
                    t.start()
                for t in writer_threads:
                    t.join()
                stop.set()
                rt.join()
                ck.check(not errors, f"{CONC_WRITERS} writers ({CONC_N // 20} batches) and a searching reader: no errors", "; ".join(errors[:3]))
            self.check_concurrent("after the concurrent writes")

    def phase_verify(self):
        ck, c = self.ck, self.client
        with ck.section("collections after restart", fatal=True):
            names = sorted(d.name for d in c.get_collections().collections)
            ck.check(names == sorted([MAIN, EUC, CONC]), f"get_collections = {sorted([MAIN, EUC, CONC])}", f"got {names}")
            ck.check(c.collection_exists(DOT) is False, "the deleted collection stays deleted")
        self.check_final_state("verify")
        with ck.section("Euclid collection after restart"):
            self.check_euclid("verify")
        with ck.section("concurrently written collection after restart"):
            self.check_concurrent("verify")
        self.edge_cases()  # writes still work after the restart
        with ck.section("main collection untouched by the scratch work"):
            got = c.count(MAIN, exact=True).count
            ck.check(got == len(self.plan.final), f"count = {len(self.plan.final)}", f"got {got}")
        self.check_auth()

    def check_final_state(self, label):
        ck, c, plan = self.ck, self.client, self.plan
        state = plan.final
        with ck.section(f"{label}: final state of {MAIN}"):
            self.check_collection_info(MAIN, DIM, models.Distance.COSINE, len(state))
            got = c.count(MAIN, exact=True).count
            ck.check(got == len(state), f"count = {len(state)}", f"got {got}")
            gone = c.retrieve(MAIN, ids=plan.deleted)
            ck.check(gone == [], f"the {len(plan.deleted)} deleted points stay deleted", f"found {[r.id for r in gone][:10]}")
            self.check_scroll(state, MAIN, models.Distance.COSINE, "scroll all", limit=64)
            self.check_scroll(state, MAIN, models.Distance.COSINE, "scroll all, pages of 1000", limit=1000)
            for fname, flt in FILTERS[1:4] + FILTERS[9:10]:
                self.check_scroll(state, MAIN, models.Distance.COSINE, f"scroll [{fname}]", flt=flt, limit=17)
            recs, nxt = c.scroll(MAIN, limit=5, offset=plan.ids[1])
            want = sorted((p for p in state if id_key(p) >= id_key(plan.ids[1])), key=id_key)
            ck.check([r.id for r in recs] == want[:5] and nxt == want[5], "scroll from an explicit offset id", f"got {[r.id for r in recs]} next {nxt!r}, want {want[:6]}")
        with ck.section(f"{label}: counts"):
            self.check_counts(state, label)
        with ck.section(f"{label}: searches"):
            self.check_searches(state, label, plan.queries[3:] if label == "verify" else plan.queries[:3])

    def check_euclid(self, label):
        ck, c, plan = self.ck, self.client, self.plan
        self.check_collection_info(EUC, EUC_DIM, models.Distance.EUCLID, EUC_N)
        self.check_scroll(plan.euc, EUC, models.Distance.EUCLID, f"{label}: scroll {EUC}", limit=100)
        for qi, q in enumerate(plan.euc_queries):
            for flt in [None, F(must=[match("g", 3)]), F(must_not=[match_any("g", [0, 1, 2])], must=[match_except("s", ["e5", "e12"])])]:
                hits = self.query(EUC, q, flt, K, with_vectors=qi == 0)
                check_hits(ck, f"{label}: euclid query q{qi} k={K}", hits, plan.euc, q, models.Distance.EUCLID, flt, K, qi == 0)

    def refused_or(self, what, call, check):
        """Outside the promised subset a server may refuse a request (4xx
        with a message) but must not ignore what it does not implement."""
        try:
            result = call()
        except UnexpectedResponse as e:
            if e.status_code is not None and 400 <= e.status_code < 500:
                print(f"NOTE  {what}: refused with HTTP {e.status_code} {e.content[:160]!r}", flush=True)
                self.ck.ok(f"{what}: refused with HTTP {e.status_code}")
            else:
                self.ck.fail(f"{what}: HTTP {e.status_code} {e.content[:300]!r}")
            return
        check(result)

    def beyond_the_subset(self, state):
        ck, c, plan = self.ck, self.client, self.plan
        cos = models.Distance.COSINE
        q = plan.queries[0]
        matching, _ = brute_force(state, q, cos, None, 10)

        thr = matching[6][1]
        want = [pid for pid, sc in matching if sc >= thr]
        self.refused_or(
            f"query_points score_threshold={thr:.4f}",
            lambda: c.query_points(MAIN, query=q, limit=20, score_threshold=thr).points,
            lambda hits: ck.check([h.id for h in hits] == want, "score_threshold honoured", f"got {[h.id for h in hits]}, want {want}"),
        )
        want = [pid for pid, _ in matching[5:12]]
        self.refused_or(
            "query_points offset=5 limit=7",
            lambda: c.query_points(MAIN, query=q, limit=7, offset=5).points,
            lambda hits: ck.check([h.id for h in hits] == want, "offset honoured", f"got {[h.id for h in hits]}, want {want}"),
        )
        want = [pid for pid, _ in matching[:10]]
        self.refused_or(
            "query_points search_params exact=True, hnsw_ef=128",
            lambda: c.query_points(MAIN, query=q, limit=10, search_params=models.SearchParams(exact=True, hnsw_ef=128)).points,
            lambda hits: ck.check([h.id for h in hits] == want, "search_params: same top 10", f"got {[h.id for h in hits]}, want {want}"),
        )

        def payloads_are(label, pick):
            def check(hits):
                bad = [d for d in (payload_problem(h.id, h.payload or {}, pick(state[h.id][1])) for h in hits) if d]
                ck.check(len(hits) == 10 and not bad, label, f"{len(hits)} hits, first mismatch {bad[:1]}")

            return check

        self.refused_or(
            'query_points with_payload=["city", "n", "absent"]',
            lambda: c.query_points(MAIN, query=q, limit=10, with_payload=["city", "n", "absent"]).points,
            payloads_are("payload include selector honoured", lambda p: {k: p[k] for k in ("city", "n")}),
        )
        self.refused_or(
            'query_points with_payload exclude ["meta", "label"]',
            lambda: c.query_points(MAIN, query=q, limit=10, with_payload=models.PayloadSelectorExclude(exclude=["meta", "label"])).points,
            payloads_are("payload exclude selector honoured", lambda p: {k: v for k, v in p.items() if k not in ("meta", "label")}),
        )
        ids = [pid for pid, _ in matching[20:23]]
        flt = F(must=[models.HasIdCondition(has_id=ids)])
        self.refused_or(
            "query_points with a has_id filter",
            lambda: c.query_points(MAIN, query=q, limit=10, query_filter=flt).points,
            lambda hits: ck.check([h.id for h in hits] == ids, "has_id honoured", f"got {[h.id for h in hits]}, want {ids}"),
        )
        flt = F(must=[models.FieldCondition(key="label", match=models.MatchText(text="pt-12-"))])
        want = [pid for pid, _ in matching if "pt-12-" in state[pid][1]["label"]][:10]
        self.refused_or(
            "query_points with a text match filter",
            lambda: c.query_points(MAIN, query=q, limit=10, query_filter=flt).points,
            lambda hits: ck.check(sorted(map(str, (h.id for h in hits))) == sorted(map(str, want)), "text match honoured", f"got {[h.id for h in hits]}, want {want}"),
        )
        flt = F(min_should=models.MinShould(conditions=[match("city", "paris"), match("flag", True), rng_("n", lt=50)], min_count=2))

        def two_of_three(p):
            return (p["city"] == "paris") + (p["flag"] is True) + (p["n"] < 50) >= 2

        want = [pid for pid, _ in matching if two_of_three(state[pid][1])][:10]
        self.refused_or(
            "query_points with min_should (2 of 3)",
            lambda: c.query_points(MAIN, query=q, limit=10, query_filter=flt).points,
            lambda hits: ck.check([h.id for h in hits] == want, "min_should honoured", f"got {[h.id for h in hits]}, want {want}"),
        )
        flt = F(must=[models.FieldCondition(key="nums", values_count=models.ValuesCount(gte=3))])
        want = [pid for pid, _ in matching if len(state[pid][1]["nums"]) >= 3][:10]
        self.refused_or(
            "query_points with a values_count filter",
            lambda: c.query_points(MAIN, query=q, limit=10, query_filter=flt).points,
            lambda hits: ck.check([h.id for h in hits] == want, "values_count honoured", f"got {[h.id for h in hits]}, want {want}"),
        )
        flt = FILTERS[2][1]
        reqs = [models.QueryRequest(query=plan.queries[i], filter=flt, limit=5, with_payload=True) for i in range(3)]
        want = [[pid for pid, _ in brute_force(state, plan.queries[i], cos, flt, 5)[1]] for i in range(3)]
        self.refused_or(
            "query_batch_points (3 filtered queries)",
            lambda: c.query_batch_points(MAIN, requests=reqs),
            lambda rs: ck.check([[h.id for h in r.points] for r in rs] == want, "query_batch_points honoured", f"got {[[h.id for h in r.points] for r in rs]}, want {want}"),
        )
        self.refused_or(
            "scroll with order_by n",
            lambda: c.scroll(MAIN, limit=5, order_by="n")[0],
            lambda recs: ck.check(
                [state[r.id][1]["n"] for r in recs] == sorted(p["n"] for _, p in state.values())[:5],
                "order_by honoured",
                f"got n = {[state[r.id][1]['n'] for r in recs]}",
            ),
        )

    def edge_cases(self):
        """Ids at the ends of the u64 range, UUID spellings, payload values
        serde_json keeps exactly; in a scratch collection, deleted at the end."""
        ck, c = self.ck, self.client
        with ck.section("edge cases: ids (scratch collection)"):
            c.create_collection(SCRATCH, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
            upper = "6B2F3A9C-1D4E-4F5A-8B6C-7D8E9F0A1B2C"
            lower = upper.lower()
            other = "00000000-0000-4000-8000-000000000001"
            pts = [
                models.PointStruct(id=0, vector=[1.0, 0.0, 0.0, 0.0], payload={"which": "zero"}),
                models.PointStruct(id=2**63 - 1, vector=[0.0, 1.0, 0.0, 0.0], payload={"which": "i64max"}),
                models.PointStruct(id=2**63, vector=[0.0, 0.0, 1.0, 0.0], payload={"which": "2^63"}),
                models.PointStruct(id=2**64 - 1, vector=[0.0, 0.0, 0.0, 1.0], payload={"which": "u64max"}),
                models.PointStruct(id=upper, vector=[1.0, 1.0, 0.0, 0.0], payload={"which": "upper"}),
                models.PointStruct(id=other, vector=[3.0, 4.0, 0.0, 0.0], payload={}),
            ]
            self.upsert_ok("upsert ids 0, 2^63-1, 2^63, 2^64-1 and UUIDs", SCRATCH, pts)
            order = [0, 2**63 - 1, 2**63, 2**64 - 1, other, lower]
            recs, _ = self.scroll_all(SCRATCH, limit=2)
            ck.check([r.id for r in recs] == order, "scroll order over u64 ids and UUIDs (canonical lowercase)", f"got {[r.id for r in recs]}")
            ck.check(all(type(r.id) is type(o) for r, o in zip(recs, order)), "integer ids come back as integers")
            recs = c.retrieve(SCRATCH, ids=[upper], with_payload=True, with_vectors=True)
            ck.check([r.id for r in recs] == [lower], "retrieve by an uppercase UUID finds the point, id in canonical form", f"got {[r.id for r in recs]}")
            if recs:
                v = recs[0].vector
                ck.check(v is not None and np.allclose(v, [math.sqrt(0.5), math.sqrt(0.5), 0, 0], atol=1e-6), "cosine vector normalized", f"got {v}")
            recs = c.retrieve(SCRATCH, ids=[other], with_payload=True)
            ck.check(len(recs) == 1 and recs[0].payload == {}, "an empty payload comes back as {}", f"got {[r.payload for r in recs]}")
            hits = c.query_points(SCRATCH, query=[0.0, 0.0, 0.0, 2.0], limit=1).points
            ck.check([h.id for h in hits] == [2**64 - 1] and abs(hits[0].score - 1.0) < 1e-5, "query finds id 2^64-1 with score 1", f"got {[(h.id, h.score) for h in hits]}")
            hits = c.query_points(SCRATCH, query=[1.0, 0.0, 0.0, 0.0], limit=100).points
            ck.check(len(hits) == 6, "limit larger than the collection returns every point", f"got {len(hits)}")
            flt = F(must=[match("which", "2^63")])
            hits = c.query_points(SCRATCH, query=[1.0, 0.0, 0.0, 0.0], query_filter=flt, limit=3).points
            ck.check([h.id for h in hits] == [2**63], "filtered query returns id 2^63", f"got {[h.id for h in hits]}")
            self.upsert_ok(
                "one batch with the same id twice (the last one wins)",
                SCRATCH,
                [
                    models.PointStruct(id=42, vector=[1.0, 0.0, 0.0, 0.0], payload={"v": 1, "old": True}),
                    models.PointStruct(id=42, vector=[0.0, 1.0, 0.0, 0.0], payload={"v": 2}),
                ],
            )
            recs = c.retrieve(SCRATCH, ids=[42], with_vectors=True)
            ck.check(
                len(recs) == 1 and recs[0].payload == {"v": 2} and np.allclose(recs[0].vector, [0, 1, 0, 0]),
                "the last of two writes to one id in a batch wins",
                f"got {[(r.payload, r.vector) for r in recs]}",
            )
            flt42 = F(must=[match("v", 2)])
            before = c.query_points(SCRATCH, query=[0.0, 1.0, 0.0, 0.0], query_filter=flt42, limit=1, with_payload=False).points
            self.upsert_ok("upsert id 42 again without a payload", SCRATCH, [models.PointStruct(id=42, vector=[0.0, 0.0, 1.0, 1.0])])
            after = c.query_points(SCRATCH, query=[0.0, 0.0, 1.0, 1.0], limit=1, with_payload=False).points
            ck.check(
                # (local mode reports version 0 for everything)
                len(before) == len(after) == 1
                and after[0].id == 42
                and (after[0].version > before[0].version >= 0 or (LOCAL_MODE and after[0].version == before[0].version)),
                "a scored point's version grows when the point is written again",
                f"before {[(h.id, h.version) for h in before]}, after {[(h.id, h.version) for h in after]}",
            )
            recs = c.retrieve(SCRATCH, ids=[42])
            ck.check(len(recs) == 1 and recs[0].payload == {}, "an upsert replaces the whole point (no payload -> {})", f"got {[r.payload for r in recs]}")
            n = c.count(SCRATCH, exact=True).count
            ck.check(n == 7, "count 7 (one point for id 42)", f"got {n}")
            hits = c.query_points(SCRATCH, query=[0.0, 0.0, 1.0, 1.0], limit=10).points
            ck.check(len({str(h.id) for h in hits}) == len(hits) == 7, "one hit per id", f"got {[h.id for h in hits]}")
            c.delete(SCRATCH, points_selector=models.PointIdsList(points=[42]), wait=True)
            c.delete(SCRATCH, points_selector=models.PointIdsList(points=[upper, 2**64 - 1, 0]), wait=True)
            left = sorted(c.scroll(SCRATCH, limit=10)[0], key=lambda r: id_key(r.id))
            ck.check([r.id for r in left] == [2**63 - 1, 2**63, other], "delete by uppercase UUID and u64 ids", f"left {[r.id for r in left]}")

        with ck.section("edge cases: payload values (scratch collection)"):
            if not c.collection_exists(SCRATCH):
                c.create_collection(SCRATCH, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
            exotic = {
                "u64": 2**64 - 1,
                "i64min": -(2**63),
                "tiny": 5e-324,
                "huge": 1.7976931348623157e308,
                "third": 1 / 3,
                "text": "ü✓ 🙂 \"quoted\" \\ back\nslash\ttab \u0001",
                "deep": {"a": {"b": {"c": {"d": {"e": [[[{"f": None}]]]}}}}},
                "empty_obj": {},
                "empty_list": [],
                "mixed": [1, "a", None, True, 1.5, [2], {"k": "v"}],
                "dotted.key": 1,
                "k" * 300: "a 300-byte key",
                "": "empty key",
            }
            try:
                self.upsert_ok("upsert one point with every exotic payload value", SCRATCH, [models.PointStruct(id=7, vector=[1.0, 2.0, 3.0, 4.0], payload=exotic)])
                whole = True
            except UnexpectedResponse as e:
                ck.fail(f"upsert of a payload with every exotic value refused: HTTP {e.status_code} {e.content[:300]!r}")
                whole = False
            if whole:
                recs = c.retrieve(SCRATCH, ids=[7], with_payload=True)
                d = json_diff(recs[0].payload, exotic) if recs else "point missing"
                ck.check(d is None, "exotic payload comes back unchanged", d or "")
            else:
                # One point per value, to say which ones are refused or changed.
                for j, (key, value) in enumerate(exotic.items()):
                    pid, payload = 100 + j, {key: value}
                    try:
                        c.upsert(SCRATCH, points=[models.PointStruct(id=pid, vector=[1.0, 0.0, 0.0, 1.0], payload=payload)])
                    except UnexpectedResponse as e:
                        ck.fail(f"payload {json.dumps(payload)[:80]} refused: HTTP {e.status_code} {e.content[:200]!r}")
                        continue
                    recs = c.retrieve(SCRATCH, ids=[pid], with_payload=True)
                    d = json_diff(recs[0].payload, payload) if recs else "point missing"
                    ck.check(d is None, f"payload {json.dumps(payload)[:60]} comes back unchanged", d or "")

        with ck.section("edge cases: payload sizes Qdrant accepts (scratch collection)"):
            if not c.collection_exists(SCRATCH):
                c.create_collection(SCRATCH, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
            deep = 1
            for _ in range(40):
                deep = {"k": deep}
            big = {
                "a 700 kB string": {"text": "lorem ipsum " * 60_000},
                "objects nested 40 deep": {"deep": deep},
                "a key path of 3 x 100 bytes": {"a" * 100: {"b" * 100: {"c" * 100: 1}}},
                "a list of 5,000 numbers": {"nums": list(range(5000))},
            }
            for j, (what, payload) in enumerate(big.items()):
                pid = 200 + j
                try:
                    c.upsert(SCRATCH, points=[models.PointStruct(id=pid, vector=[1.0, 0.0, 0.0, 1.0], payload=payload)])
                except UnexpectedResponse as e:
                    ck.fail(f"payload with {what} refused: HTTP {e.status_code} {e.content[:200]!r}")
                    continue
                recs = c.retrieve(SCRATCH, ids=[pid], with_payload=True)
                d = json_diff(recs[0].payload, payload) if recs else "point missing"
                ck.check(d is None, f"payload with {what} comes back unchanged", (d or "")[:300])

        # Qdrant itself (and its local mode) has no such limits.
        with ck.section("edge cases: beyond Vego's documented payload limits (docs/SERVER.md): 400, nothing written"):
            over_limits = not LOCAL_MODE
            if over_limits and not c.collection_exists(SCRATCH):
                c.create_collection(SCRATCH, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
            over = {} if not over_limits else {
                "1,500 filterable paths (limit 1,023)": {f"k{j}": j for j in range(1500)},
                "1.5 MB of payload (limit 1 MiB)": {"text": "x" * 1_500_000},
            }
            for j, (what, payload) in enumerate(over.items()):
                pid = 300 + j
                try:
                    c.upsert(SCRATCH, points=[models.PointStruct(id=pid, vector=[1.0, 0.0, 0.0, 1.0], payload=payload)])
                    ck.fail(f"payload with {what} accepted")
                except UnexpectedResponse as e:
                    ck.check(e.status_code == 400, f"payload with {what} refused with 400", f"HTTP {e.status_code}")
                ck.check(c.retrieve(SCRATCH, ids=[pid]) == [], f"nothing written for the payload with {what}")
            for what, flt in [] if not over_limits else [
                ("a 300-byte key", F(must=[match("k" * 300, "a 300-byte key")])),
                ("an empty key", F(must=[match("", "empty key")])),
                ("a 2 kB match string", F(must=[match("text", "x" * 2000)])),
            ]:
                try:
                    c.count(SCRATCH, count_filter=flt, exact=True)
                    ck.fail(f"filter on {what} accepted (it could not be answered exactly)")
                except UnexpectedResponse as e:
                    ck.check(e.status_code == 400, f"filter on {what} refused with 400", f"HTTP {e.status_code}")

        with ck.section("edge cases: drop the scratch collection"):
            ck.check(c.delete_collection(SCRATCH) is True, "delete the scratch collection")
            ck.check(c.collection_exists(SCRATCH) is False, "the scratch collection is gone")

    def probe_root(self):
        """GET / answers {"title", "version"} on Qdrant; qdrant-client reads
        `version` for its compatibility check (only a warning without it)."""
        if self.local:
            return
        import httpx

        headers = {"api-key": self.args.api_key} if self.args.api_key else {}
        r = httpx.get(self.args.url.rstrip("/") + "/", headers=headers, timeout=30)
        version = None
        try:
            version = r.json().get("version")
        except Exception:
            pass
        if r.status_code == 200 and isinstance(version, str):
            self.ck.ok(f"GET / -> version {version}")
        else:
            print(f"NOTE  GET / -> HTTP {r.status_code} {r.content[:200]!r}: qdrant-client's compatibility check warns", flush=True)

    def check_auth(self):
        ck = self.ck
        if self.local or not self.args.api_key:
            return
        import httpx

        with ck.section("api key"):
            for label, key in [("a wrong api key", self.args.api_key + "x"), ("no api key", None)]:
                other = self.make_client(key)
                self.expect_error(f"get_collections with {label}", lambda: other.get_collections(), (401,))
                victim = [min(self.plan.final, key=id_key)]
                intruder = [models.PointStruct(id=10**15 + 99, vector=[1.0] * DIM, payload={"intruder": True})]
                self.expect_error(f"upsert with {label}", lambda: other.upsert(MAIN, points=intruder), (401,))
                self.expect_error(f"delete with {label}", lambda: other.delete(MAIN, points_selector=models.PointIdsList(points=victim)), (401,))
                self.expect_error(f"query_points with {label}", lambda: other.query_points(MAIN, query=[1.0] * DIM, limit=1), (401,))
                other.close()
            bearer = QdrantClient(url=self.args.url, timeout=60, check_compatibility=False, auth_token_provider=lambda: self.args.api_key)
            names = {d.name for d in bearer.get_collections().collections}
            ck.check(MAIN in names, "Authorization: Bearer KEY is accepted (auth_token_provider)")
            bearer.close()
            r = httpx.get(self.args.url.rstrip("/") + "/collections", headers={"Authorization": "Bearer wrong"}, timeout=30)
            ck.check(r.status_code == 401, "a wrong bearer token -> 401", f"got {r.status_code}")
            ck.check(
                self.client.retrieve(MAIN, ids=[10**15 + 99]) == [] and self.client.count(MAIN, exact=True).count == len(self.plan.final),
                "nothing written or deleted by the refused requests",
            )

    def run(self):
        t0 = time.monotonic()
        try:
            if self.args.phase == "load":
                self.phase_load()
            else:
                self.phase_verify()
        except Fatal as e:
            self.ck.fail(f"stopped: section '{e}' failed")
        finally:
            self.client.close()
        dt = time.monotonic() - t0
        ck = self.ck
        if FLOAT_DRIFT:
            ck.section_name = "payload floats"
            examples = "; ".join(f"id {k}: {v}" for k, v in list(FLOAT_DRIFT.items())[:3])
            ck.fail(
                f"{len(FLOAT_DRIFT)} point(s) came back with payload floats a few ulps off (JSON numbers must round-trip exactly): {examples}"
            )
        if ck.failures:
            print(f"\nworkflow {self.args.phase}: FAILED, {len(ck.failures)} failure(s), {ck.passed} checks passed, {dt:.1f} s")
            for f in ck.failures:
                print(f"  - {f}")
            return 1
        print(f"\nworkflow {self.args.phase}: OK, {ck.passed} checks passed, {dt:.1f} s")
        return 0


def first_difference(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"first difference at {i}: got {g!r}, expected {w!r} ({len(got)} vs {len(want)} ids)"
    if len(got) != len(want):
        return f"got {len(got)} ids, expected {len(want)}"
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="server URL, e.g. http://127.0.0.1:6333")
    where.add_argument("--local", metavar="PATH", help="qdrant-client local mode on PATH (self-check)")
    ap.add_argument("--api-key")
    ap.add_argument("--phase", choices=["load", "verify"], required=True)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="Api key is used with an insecure connection")
    warnings.filterwarnings("ignore", message=".*[Aa]uth token provider is used with an insecure connection")
    global LOCAL_MODE
    LOCAL_MODE = args.local is not None
    if LOCAL_MODE:  # "payload indexes / search_params have no effect in local mode"
        warnings.filterwarnings("ignore", category=UserWarning)
    return Workflow(args).run()


if __name__ == "__main__":
    sys.exit(main())
