#!/usr/bin/env python3
"""Differential test: the same seeded random workload against `vego serve`
and against qdrant-client's in-process local mode (`QdrantClient(":memory:")`,
an independent implementation of Qdrant's API), comparing every answer.

    python differential.py --url http://127.0.0.1:6333 [--api-key KEY] --seed 1 --rounds 20

Each round creates one collection on both sides (Cosine, Euclid or Dot;
integer, UUID or mixed ids; a random dimension), then interleaves random
writes - upserts (also with update_mode / update_filter), deletes by ids and
by filter, set / overwrite / delete / clear payload, update batches - with
random reads, and compares every answer:

* count with random filter trees (match value / any / except, range,
  is_null, is_empty, has_id, nested paths, must / should / must_not);
* scroll across pages (random page sizes, filters);
* retrieve with payload selectors (include / exclude, nested paths) and
  vectors;
* query with limit / offset / score_threshold / filter and `exact=true`,
  MMR, batch query, the older search endpoint: ids and order equal, scores
  to 1e-4;
* graph search (`exact=false`) against local mode's exact answer: recall
  over the whole run must be at least 0.99.

Payloads hold nested objects, arrays of objects, nulls, empty arrays, mixed
types. Everything derives from the seed; on a difference the script prints
the round, its seed and both answers, and exits 1.
"""

import argparse
import math
import random
import sys
import time
import uuid
import warnings

import httpx

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

SCORE_TOL = 1e-4
VEC_TOL = 1e-5
RECALL_MIN = 0.99
DISTANCES = [models.Distance.COSINE, models.Distance.EUCLID, models.Distance.DOT]
KEYS = ["a", "n", "tags", "obj", "arr", "s"]
FILTER_KEYS = ["a", "n", "tags", "s", "obj", "obj.b", "obj.c", "obj.c.b", "arr", "arr[].b", "arr[].c", "arr[].c.b", "missing"]
SELECT_KEYS = ["a", "n", "obj", "obj.b", "obj.c.b", "arr", "arr[].b", "arr[0]", "tags", "missing"]


class Differences(Exception):
    pass


class Run:
    def __init__(self, args):
        self.args = args
        self.vego = QdrantClient(url=args.url, api_key=args.api_key, timeout=120, check_compatibility=False)
        self.local = QdrantClient(":memory:")
        self.checks = 0
        self.differences = []
        self.found = 0
        self.wanted = 0
        self.round_seed = None

    # ------------------------------------------------------------------
    # comparison

    def differ(self, what, got, want):
        msg = f"round seed {self.round_seed}: {what}\n  vego:  {str(got)[:1500]}\n  local: {str(want)[:1500]}"
        self.differences.append(msg)
        print("DIFF  " + msg, flush=True)
        if len(self.differences) >= 20:
            raise Differences()

    def same(self, what, got, want):
        self.checks += 1
        if got != want:
            self.differ(what, got, want)

    def both(self, what, fn):
        """Runs fn(client) on both; both must succeed or both fail."""
        errors = []
        results = []
        for c in (self.vego, self.local):
            try:
                results.append(fn(c))
                errors.append(None)
            except (UnexpectedResponse, ValueError, KeyError, AssertionError) as e:
                results.append(None)
                errors.append(e)
        self.checks += 1
        if (errors[0] is None) != (errors[1] is None):
            self.differ(f"{what}: one side failed", errors[0] or "ok", errors[1] or "ok")
            return None, None
        return results[0], results[1]

    @staticmethod
    def close(a, b):
        return abs(a - b) <= SCORE_TOL * max(1.0, abs(a), abs(b))

    def same_scored(self, what, got, want):
        """Ids in the same order and scores to 1e-4; points whose scores tie
        (within the tolerance) may come in either order."""
        self.checks += 1
        g = [(p.id, p.score) for p in got]
        w = [(p.id, p.score) for p in want]
        if len(g) != len(w) or any(not self.close(a[1], b[1]) for a, b in zip(g, w)):
            self.differ(what, g, w)
            return
        for i, ((gid, gs), (wid, _)) in enumerate(zip(g, w)):
            if gid != wid:
                tied_g = {pid for pid, s in g if self.close(s, gs)}
                tied_w = {pid for pid, s in w if self.close(s, gs)}
                # a tie cut by the limit may hold different members
                if not (gid in tied_w or len(tied_w) < len(tied_g) or i >= len(g) - len(tied_g)):
                    self.differ(what + f" (position {i})", g, w)
                    return
        for a, b in zip(got, want):
            if a.id == b.id and not self.same_payload(a.payload, b.payload):
                self.differ(what + f": payload of {a.id}", a.payload, b.payload)
                return

    @staticmethod
    def same_payload(a, b):
        return normalise(a) == normalise(b)

    def same_records(self, what, got, want, vectors=False):
        self.checks += 1
        gi = [r.id for r in got]
        wi = [r.id for r in want]
        if gi != wi:
            self.differ(what + ": ids", gi, wi)
            return
        for a, b in zip(got, want):
            if not self.same_payload(a.payload, b.payload):
                self.differ(what + f": payload of {a.id}", a.payload, b.payload)
                return
            if vectors:
                va, vb = a.vector, b.vector
                if (va is None) != (vb is None) or (va is not None and (len(va) != len(vb) or any(abs(x - y) > VEC_TOL * max(1.0, abs(y)) for x, y in zip(va, vb)))):
                    self.differ(what + f": vector of {a.id}", va, vb)
                    return

    # ------------------------------------------------------------------
    # generators

    def value(self, r, depth=0):
        k = r.random()
        if depth < 2 and k < 0.12:
            return {r.choice(["b", "c"]): self.value(r, depth + 1) for _ in range(r.randint(0, 2))}
        if depth < 2 and k < 0.28:
            return [self.value(r, depth + 1) for _ in range(r.randint(0, 3))]
        if k < 0.36:
            return None
        if k < 0.6:
            return r.randint(0, 5)
        if k < 0.68:
            return r.randint(0, 5) + 0.5
        if k < 0.9:
            return r.choice(["x", "y", "z"])
        return r.random() < 0.5

    def payload(self, r):
        p = {}
        for key in r.sample(KEYS, r.randint(0, len(KEYS))):
            if key == "arr":
                p[key] = [{"b": self.value(r, 1), "c": self.value(r, 1)} if r.random() < 0.8 else self.value(r, 1) for _ in range(r.randint(0, 3))]
            elif key == "obj":
                p[key] = {"b": self.value(r, 1), "c": self.value(r, 1)} if r.random() < 0.8 else self.value(r, 1)
            elif key == "tags":
                p[key] = [r.choice(["x", "y", "z", None, 1]) for _ in range(r.randint(0, 3))]
            else:
                p[key] = self.value(r)
        return p

    def scalar(self, r):
        return r.choice([r.randint(0, 5), r.choice(["x", "y", "z"]), r.random() < 0.5])

    def operands(self, r, least):
        """A list for `any` / `except`: all strings or all integers (Qdrant's type)."""
        n = r.randint(least, 3)
        if r.random() < 0.5:
            return [r.choice(["x", "y", "z"]) for _ in range(n)]
        return [r.randint(0, 5) for _ in range(n)]

    def condition(self, r, ids, depth=0):
        k = r.random()
        if depth < 2 and k < 0.2:
            return self.filter_dict(r, ids, depth + 1)
        key = r.choice(FILTER_KEYS)
        if k < 0.35:
            return {"key": key, "match": {"value": self.scalar(r)}}
        if k < 0.45:
            return {"key": key, "match": {"any": self.operands(r, 1)}}
        if k < 0.55:
            return {"key": key, "match": {"except": self.operands(r, 0)}}
        if k < 0.7:
            lo, hi = sorted([r.randint(0, 6) + r.choice([0, 0.5]), r.randint(0, 6)])
            rng = {}
            if r.random() < 0.7:
                rng[r.choice(["gt", "gte"])] = lo
            if r.random() < 0.7:
                rng[r.choice(["lt", "lte"])] = hi
            return {"key": key, "range": rng}
        if k < 0.78:
            return {"is_empty": {"key": key}}
        if k < 0.86:
            return {"is_null": {"key": key}}
        if k < 0.9:
            return {"key": key, "is_empty": r.random() < 0.5}
        return {"has_id": r.sample(ids, min(len(ids), r.randint(0, 4)))}

    def filter_dict(self, r, ids, depth=0):
        f = {}
        for clause in ("must", "should", "must_not"):
            if r.random() < 0.5:
                f[clause] = [self.condition(r, ids, depth) for _ in range(r.randint(0, 3))]
        return f

    def filter(self, r, ids):
        if r.random() < 0.15:
            return None
        return models.Filter.model_validate(self.filter_dict(r, ids))

    def vector(self, r, dim, distance):
        v = [r.uniform(-1, 1) for _ in range(dim)]
        if distance == models.Distance.DOT:
            scale = r.uniform(0.2, 3)
            v = [x * scale for x in v]
        return v

    def selector(self, r):
        k = r.random()
        if k < 0.4:
            return True
        if k < 0.5:
            return False
        keys = r.sample(SELECT_KEYS, r.randint(1, 3))
        if k < 0.75:
            return models.PayloadSelectorInclude(include=keys)
        return models.PayloadSelectorExclude(exclude=keys)

    # ------------------------------------------------------------------
    # one round

    def round(self, index):
        seed = self.args.seed * 1_000_003 + index
        self.round_seed = seed
        r = random.Random(seed)
        distance = r.choice(DISTANCES)
        dim = r.choice([2, 3, 4, 8, 16])
        kind = r.choice(["int", "uuid", "mixed"])
        n_ids = r.randint(5, self.args.points)
        pool = []
        for i in range(n_ids):
            if kind == "int" or (kind == "mixed" and r.random() < 0.5):
                pool.append(r.randint(0, 10_000))
            else:
                pool.append(str(uuid.UUID(int=r.getrandbits(128), version=4)))
        pool = list(dict.fromkeys(pool))
        name = f"diff_{index}"
        for c in (self.vego, self.local):
            if c.collection_exists(name):
                c.delete_collection(name)
            c.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=distance))
        print(f"round {index} (seed {seed}): {distance.value}, dim {dim}, {kind} ids, {len(pool)} ids", flush=True)
        live = set()

        def points(k):
            chosen = r.sample(pool, min(k, len(pool)))
            return [models.PointStruct(id=i, vector=self.vector(r, dim, distance), payload=self.payload(r)) for i in chosen]

        self.both("initial upsert", lambda c, ps=points(r.randint(1, len(pool))): c.upsert(name, points=ps, wait=True))
        for step in range(self.args.steps):
            k = r.random()
            if k < 0.25:
                ps = points(r.randint(1, 20))
                mode = r.choice([None, None, models.UpdateMode.INSERT_ONLY, models.UpdateMode.UPDATE_ONLY])
                uf = self.filter(r, pool) if r.random() < 0.2 else None
                self.both("upsert", lambda c: c.upsert(name, points=ps, wait=True, update_mode=mode, update_filter=uf))
            elif k < 0.32:
                ids = r.sample(pool, r.randint(1, 5))
                self.both("delete by ids", lambda c: c.delete(name, points_selector=models.PointIdsList(points=ids), wait=True))
            elif k < 0.37:
                f = self.filter(r, pool) or models.Filter(must=[{"key": "n", "match": {"value": 0}}])
                self.both("delete by filter", lambda c: c.delete(name, points_selector=models.FilterSelector(filter=f), wait=True))
            elif k < 0.45:
                existing = self.existing_ids(name)
                p = self.payload(r)
                if existing and r.random() < 0.5:
                    sel = r.sample(existing, min(len(existing), r.randint(1, 3)))
                else:
                    sel = models.FilterSelector(filter=self.filter(r, pool) or models.Filter())
                op = r.choice(["set", "overwrite", "delete", "clear"])
                if op == "set":
                    self.both("set_payload", lambda c: c.set_payload(name, payload=p, points=sel, wait=True))
                elif op == "overwrite":
                    self.both("overwrite_payload", lambda c: c.overwrite_payload(name, payload=p, points=sel, wait=True))
                elif op == "delete":
                    keys = r.sample(SELECT_KEYS[:-2], r.randint(1, 2))
                    self.both("delete_payload", lambda c: c.delete_payload(name, keys=keys, points=sel, wait=True))
                else:
                    self.both("clear_payload", lambda c: c.clear_payload(name, points_selector=sel, wait=True))
            elif k < 0.5:
                existing = self.existing_ids(name)
                ops = [models.UpsertOperation(upsert=models.PointsList(points=points(r.randint(1, 5))))]
                if existing:
                    ops.append(models.SetPayloadOperation(set_payload=models.SetPayload(payload=self.payload(r), points=r.sample(existing, 1))))
                ops.append(models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(payload=self.payload(r), filter=self.filter(r, pool) or models.Filter())))
                self.both("batch_update_points", lambda c: c.batch_update_points(name, update_operations=ops, wait=True))
            else:
                self.reads(r, name, pool, dim, distance)
        for _ in range(3):
            self.reads(r, name, pool, dim, distance)
        self.full_scroll(r, name, None, vectors=True)
        for c in (self.vego, self.local):
            c.delete_collection(name)

    def explain(self, name, f):
        """Prints the points one side matches and the other does not."""
        sides = []
        for c in (self.vego, self.local):
            recs, _ = c.scroll(name, scroll_filter=f, limit=10_000, with_payload=False)
            sides.append({x.id for x in recs})
        for pid in sorted(sides[0] ^ sides[1], key=str):
            rec = self.local.retrieve(name, ids=[pid], with_payload=True)
            where = "vego only" if pid in sides[0] else "local only"
            print(f"      {where}: {pid} payload {rec[0].payload if rec else None}", flush=True)

    def existing_ids(self, name):
        recs, _ = self.local.scroll(name, limit=10_000, with_payload=False)
        return [x.id for x in recs]

    def full_scroll(self, r, name, f, vectors=False):
        page = r.randint(1, 30)
        out = []
        for c in (self.vego, self.local):
            recs, offset = [], None
            while True:
                got, offset = c.scroll(name, scroll_filter=f, limit=page, offset=offset, with_payload=True, with_vectors=vectors)
                recs.extend(got)
                if offset is None:
                    break
            out.append(recs)
        self.same_records(f"scroll (pages of {page}) filter {f}", out[0], out[1], vectors=vectors)

    def reads(self, r, name, pool, dim, distance):
        k = r.random()
        f = self.filter(r, pool)
        if k < 0.2:
            a, b = self.both("count", lambda c: c.count(name, count_filter=f, exact=True).count)
            if a is not None:
                self.same(f"count filter {f}", a, b)
                if a != b:
                    self.explain(name, f)
        elif k < 0.3:
            self.full_scroll(r, name, f)
        elif k < 0.4:
            ids = r.sample(pool, min(len(pool), r.randint(1, 6)))
            sel = self.selector(r)
            wv = r.random() < 0.5
            a, b = self.both("retrieve", lambda c: sorted(c.retrieve(name, ids=ids, with_payload=sel, with_vectors=wv), key=lambda x: (isinstance(x.id, str), x.id)))
            if a is not None:
                self.same_records(f"retrieve {ids} with_payload {sel}", a, b, vectors=wv)
        elif k < 0.75:
            q = self.vector(r, dim, distance)
            limit = r.randint(1, 15)
            offset = r.choice([None, 0, r.randint(0, 5)])
            thr = None
            if r.random() < 0.25:
                # Between two scores: a threshold equal to a score would
                # compare f32 scores with f64 ones.
                probe = [p.score for p in self.local.query_points(name, query=q, limit=6).points]
                if len(probe) >= 2:
                    i = r.randrange(len(probe) - 1)
                    thr = (probe[i] + probe[i + 1]) / 2
            sel = self.selector(r)
            mmr = None
            if r.random() < 0.15:
                mmr = models.Mmr(diversity=r.choice([0.0, 0.3, 0.5, 1.0]), candidates_limit=r.choice([None, limit + 5, 40]))
            query = models.NearestQuery(nearest=q, mmr=mmr) if mmr else q
            params = models.SearchParams(exact=True)
            a, b = self.both("query", lambda c: c.query_points(name, query=query, query_filter=f, limit=limit, offset=offset, score_threshold=thr, with_payload=sel, search_params=params).points)
            if a is not None:
                self.same_scored(f"query limit {limit} offset {offset} threshold {thr} mmr {mmr} filter {f} payload {sel}", a, b)
            if mmr is None and f is None:
                # graph search vs the exact answer
                g = self.vego.query_points(name, query=q, limit=limit, with_payload=False).points
                want = {p.id for p in self.local.query_points(name, query=q, limit=limit, with_payload=False).points}
                self.wanted += len(want)
                self.found += len(want & {p.id for p in g})
        elif k < 0.87:
            reqs = [models.QueryRequest(query=self.vector(r, dim, distance), filter=self.filter(r, pool), limit=r.randint(1, 8), params=models.SearchParams(exact=True), with_payload=True) for _ in range(r.randint(1, 4))]
            a, b = self.both("query batch", lambda c: c.query_batch_points(name, requests=reqs))
            if a is not None:
                for i, (x, y) in enumerate(zip(a, b)):
                    self.same_scored(f"query batch #{i} {reqs[i]}", x.points, y.points)
        else:
            # The older `points/search` endpoint (qdrant-client no longer
            # sends it) against local mode's query.
            q = self.vector(r, dim, distance)
            limit = r.randint(1, 10)
            body = {"vector": q, "limit": limit, "with_payload": True, "params": {"exact": True}}
            if f is not None:
                body["filter"] = f.model_dump(by_alias=True, exclude_none=True, mode="json")
            headers = {"api-key": self.args.api_key} if self.args.api_key else {}
            resp = httpx.post(f"{self.args.url}/collections/{name}/points/search", json=body, headers=headers, timeout=60)
            want = self.local.query_points(name, query=q, query_filter=f, limit=limit, with_payload=True).points
            if resp.status_code != 200:
                self.differ(f"search: HTTP {resp.status_code}", resp.text, want)
            else:
                got = [models.ScoredPoint.model_validate(p) for p in resp.json()["result"]]
                self.same_scored(f"search limit {limit} filter {f}", got, want)


def normalise(p):
    """Payloads compare as JSON values (int 1 and float 1.0 differ in JSON
    only by spelling; both sides parse them the same)."""
    if isinstance(p, dict):
        return {k: normalise(v) for k, v in p.items()}
    if isinstance(p, list):
        return [normalise(v) for v in p]
    if isinstance(p, float) and p.is_integer():
        return ("float", p)
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--points", type=int, default=80)
    args = ap.parse_args()
    run = Run(args)
    t0 = time.time()
    try:
        for i in range(args.rounds):
            run.round(i)
    except Differences:
        pass
    except Exception:
        print(f"ERROR in round seed {run.round_seed} (run with --seed {args.seed})", flush=True)
        raise
    recall = run.found / run.wanted if run.wanted else 1.0
    print(f"graph search recall@k vs exact: {recall:.4f} ({run.found}/{run.wanted})")
    summary = f"{args.rounds} rounds, {run.checks} checks, {len(run.differences)} differences, seed {args.seed}, {time.time() - t0:.1f} s"
    if run.differences or recall < RECALL_MIN:
        print(f"FAILED: {summary}" + (f"; recall {recall:.4f} < {RECALL_MIN}" if recall < RECALL_MIN else ""))
        print(f"reproduce: python tests/qdrant/differential.py --url URL --seed {args.seed} --rounds {args.rounds} --steps {args.steps} --points {args.points}")
        sys.exit(1)
    print(f"ok: {summary}")


if __name__ == "__main__":
    main()
