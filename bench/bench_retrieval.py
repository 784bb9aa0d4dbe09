"""Retrieval service latency: dense search + rerank + policy at 10,000 users x 40 cards.

What it measures, in one run, on Qdrant's engine in process (qdrant-edge):

* dense search alone, and dense search + policy (with and without the user's vectors
  from the real user-vector service, in process), query already embedded;
* the query embedding alone (all-MiniLM-L6-v2 on CPU), and the whole Retrieve with it;
* the whole Retrieve with ``--concurrency`` callers at once, each query encoded alone and with concurrent
  calls sharing encoder batches (``ATTUNE_RETRIEVAL_EMBED_SHARE_BATCHES``), in one run;
* the whole Retrieve through gRPC: ``python -m attune.services.retrieval`` as its own process on
  127.0.0.1 over the same shard, fetching user vectors from the user-vector service over gRPC;
* what the LLM rerank adds (SmolLM2 through the model service, in process), on a small sample;
* qdrant-client's local mode (pure Python) at 10,000 cards in all, for comparison, next to
  the edge engine at the same size.

Filling 400,000 cards through MiniLM would take hours on this machine, so the bulk
of the store is random unit vectors (the search cost does not depend on the
values); queries are real sentences embedded by the real embedder, and the LLM
rerank sample runs on users holding a real 40-card profile embedded by MiniLM.
Aims (issue): in process, dense search + policy p99 < 5 ms; whole Retrieve with
the query embedding p99 < 30 ms without the LLM rerank.

The profile, the queries and the filling of the stores live in bench/retrieval_cards.py.

    .venv/bin/python bench/bench_retrieval.py [--users 10000] [--cards 40] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attune.services.common.embeddings import Embedder  # noqa: E402
from attune.services.common.launch import serve_core  # noqa: E402
from attune.services.common.logging import setup_logging  # noqa: E402
from attune.services.common.net import free_port  # noqa: E402
from attune.services.common.policy import PolicyConfig  # noqa: E402
from attune.services.retrieval.client import RetrievalClient  # noqa: E402
from attune.services.retrieval.core import RetrievalService  # noqa: E402
from attune.services.retrieval.qdrant_store import QdrantClientCardStore  # noqa: E402
from attune.services.retrieval.settings import RetrievalSettings  # noqa: E402
from attune.services.retrieval.store import EdgeCardStore  # noqa: E402
from attune.services.uservec.client import update_request  # noqa: E402
from attune.services.uservec.core import UserVectorService  # noqa: E402
from attune.services.uservec.settings import UserVecSettings  # noqa: E402
from attune.v1 import retrieval_pb2  # noqa: E402
from bench.retrieval_cards import QUERIES, fill, real_profile_points  # noqa: E402

err = Console(stderr=True)


def percentiles(samples: list[float]) -> dict:
    ms = np.asarray(samples) * 1000
    return {"n": len(samples), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "qps": float(len(samples) / (np.sum(samples)))}


async def timed(fn, n: int) -> list[float]:
    """Latencies of ``n`` sequential calls of ``await fn(i)``, after 20 warm-up calls."""
    for i in range(min(20, n)):
        await fn(i)
    out = []
    for i in range(n):
        start = time.perf_counter()
        await fn(i)
        out.append(time.perf_counter() - start)
    return out


async def concurrent(fn, n: int, concurrency: int) -> dict:
    """Latencies of ``n`` calls made by ``concurrency`` callers at once; qps is calls over the wall time."""
    queue, latencies = list(range(n)), []

    async def worker():
        while queue:
            i = queue.pop()
            began = time.perf_counter()
            await fn(i)
            latencies.append(time.perf_counter() - began)

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return percentiles(latencies) | {"qps": n / (time.perf_counter() - start)}


async def wait_serving(client: RetrievalClient, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            await client.wait_ready(1)
            return
        except Exception:  # noqa: BLE001 - not SERVING yet
            pass
    raise RuntimeError(f"the retrieval service did not start (exit status {proc.poll()})")


async def bench(args) -> dict:
    rng = np.random.default_rng(args.seed)
    results: dict[str, dict] = {}
    notes: dict[str, object] = {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0],
                                "bulk_vectors": "random unit vectors (384-d); queries embedded by MiniLM"}
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="attune-bench-retrieval-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    settings = RetrievalSettings()
    try:
        start = time.perf_counter()
        embedder = Embedder(threads=settings.embed_threads)  # as the service runs it
        notes["embedder_load_s"] = time.perf_counter() - start
        uservec = UserVectorService(UserVecSettings(), work / "uservec")
        await uservec.start()

        # ---- fill the embedded engine: users x cards -------------------------
        store = EdgeCardStore(work / "retrieval", embedder.id, embedder.dim, settings.collection)
        err.print(f"filling the edge store: {args.users} users x {args.cards} cards (random unit vectors) ...")
        fill_s = fill(store, rng, args.users, args.cards, embedder.dim)
        real_users = [f"profile-{i:02d}" for i in range(args.profile_users)]
        store.upsert(real_profile_points(embedder, real_users))
        notes["edge_fill"] = {"points": store.count(), "seconds": fill_s,
                              "points_per_s": args.users * args.cards / fill_s}
        err.print(f"  {store.count()} points in {fill_s:.1f} s")

        # Known users for the policy: one REINFORCE step each gives them non-zero vectors.
        probe = [f"user-{u:05d}" for u in rng.choice(args.users, size=args.probe_users, replace=False)]
        items = rng.standard_normal((4, PolicyConfig().dim)).astype(np.float32) / 16
        await asyncio.gather(*[uservec.update_from_reward(update_request(u, 1.0, items, [0.25] * 4, [0]))
                               for u in probe + real_users])

        core = RetrievalService(settings, embedder, store, uservec=uservec)
        query_texts = [f"{QUERIES[i % len(QUERIES)]} ({i})" for i in range(64)]
        query_vectors = embedder.embed(query_texts)

        def request(i: int, **kwargs) -> retrieval_pb2.RetrieveRequest:
            return retrieval_pb2.RetrieveRequest(user_id=probe[i % len(probe)], query=query_texts[i % 64],
                                                 top_k=args.top_k, select_k=args.select_k, **kwargs)

        # ---- in process ------------------------------------------------------
        async def dense(i):
            store.search(probe[i % len(probe)], query_vectors[i % 64], args.top_k)

        async def dense_policy(i):
            await core.retrieve_vector(request(i), query_vectors[i % 64])

        async def dense_policy_uservec(i):
            await core.retrieve_vector(request(i, use_user_vector=True), query_vectors[i % 64])

        async def embed(i):
            await embedder.aembed([query_texts[i % 64]])

        async def whole(i):
            await core.retrieve(request(i, use_user_vector=True))

        err.print("in process ...")
        results["in-process dense search (top_k)"] = percentiles(await timed(dense, args.queries))
        results["in-process dense + policy"] = percentiles(await timed(dense_policy, args.queries))
        results["in-process dense + policy + user vector"] = percentiles(await timed(dense_policy_uservec,
                                                                                    args.queries))
        results["in-process query embedding (MiniLM)"] = percentiles(await timed(embed, args.embed_queries))
        results["in-process whole retrieve (embed + dense + policy + user vector)"] = percentiles(
            await timed(whole, args.embed_queries))
        for share in (False, True):  # each call encoding its query alone, then concurrent calls sharing batches
            embedder.share_batches = share
            mode = "shared encoder batches" if share else "each query encoded alone"
            results[f"in-process whole retrieve, {args.concurrency} callers, {mode}"] = await concurrent(
                whole, args.embed_queries, args.concurrency)

        # ---- the LLM rerank on a sample ---------------------------------------
        if args.rerank_queries:
            from attune.services.model.core import ModelService
            from attune.services.model.settings import ModelSettings

            err.print("LLM rerank (SmolLM2, in process) ...")
            # The model service runs as its own process with every core; here it shares this one.
            model = ModelService(ModelSettings(max_batch=8, threads=os.cpu_count()), Path(args.model_data_dir))
            await model.start()
            llm_core = RetrievalService(settings, embedder, store, model=model, uservec=uservec)

            def real_request(i: int, rerank: bool) -> retrieval_pb2.RetrieveRequest:
                return retrieval_pb2.RetrieveRequest(user_id=real_users[i % len(real_users)],
                                                     query=QUERIES[i % len(QUERIES)], top_k=args.rerank_top_k,
                                                     select_k=args.select_k, rerank=rerank, use_user_vector=True)

            async def plain(i):
                await llm_core.retrieve(real_request(i, False))

            async def reranked(i):
                reply = await llm_core.retrieve(real_request(i, True))
                assert reply.reranker.startswith("llm:")

            await reranked(0)  # warm-up (first generate call)
            results[f"in-process whole retrieve, real profile, top_k {args.rerank_top_k}, no rerank"] = percentiles(
                await timed(plain, args.rerank_queries * 4))
            llm_samples = []
            for i in range(args.rerank_queries):
                start = time.perf_counter()
                await reranked(i)
                llm_samples.append(time.perf_counter() - start)
            results[f"in-process whole retrieve + LLM rerank of {args.rerank_top_k} candidates (batched)"] = \
                percentiles(llm_samples)
            sample = await llm_core.retrieve(real_request(0, True))
            notes["llm_rerank_example"] = {
                "query": QUERIES[0],
                "ranked": [(c.card.condition, c.card.preference, round(c.rerank_score, 2), round(c.dense_score, 3))
                           for c in sample.candidates]}
            await model.close()

        store.close()

        # ---- through gRPC: the service as its own process -------------------
        if args.grpc_queries:
            err.print("through gRPC (python -m attune.services.retrieval) ...")
            uv_server = await serve_core("uservec", uservec)
            port = free_port()
            env = dict(os.environ, ATTUNE_DATA_DIR=str(work), ATTUNE_RETRIEVAL_PORT=str(port),
                       ATTUNE_LOG_LEVEL="warning", ATTUNE_MODEL_TARGET="", ATTUNE_USERVEC_TARGET=uv_server.address,
                       ATTUNE_AUTH_TOKEN="")
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "attune.services.retrieval"], cwd=ROOT, env=env)
            try:
                async with RetrievalClient(f"127.0.0.1:{port}") as client:
                    await wait_serving(client, proc)
                    notes["grpc_service_start_s (imports, MiniLM, shard load)"] = time.perf_counter() - start

                    async def grpc_whole(i):
                        await client.retrieve(request(i, use_user_vector=True))

                    async def grpc_no_uservec(i):
                        await client.retrieve(request(i))

                    results["gRPC whole retrieve (embed + dense + policy + user vector over gRPC)"] = percentiles(
                        await timed(grpc_whole, args.grpc_queries))
                    results["gRPC whole retrieve without user vector"] = percentiles(
                        await timed(grpc_no_uservec, args.grpc_queries))
                    notes["gRPC whole retrieve qps at concurrency 4"] = (await concurrent(
                        grpc_whole, args.grpc_queries, 4))["qps"]
            finally:
                proc.terminate()
                proc.wait(30)
                await uv_server.stop()

        # ---- qdrant-client local mode vs edge at 10,000 cards in all --------
        if args.local_cards:
            err.print(f"qdrant-client local mode at {args.local_cards} cards ...")
            users = args.local_cards // args.cards
            local_probe = [f"small-{u:05d}" for u in range(users)]

            def small_request(i):
                return retrieval_pb2.RetrieveRequest(user_id=local_probe[(i * 7) % users], query="q",
                                                     top_k=args.top_k, select_k=args.select_k)

            for name, small in (("qdrant-client local mode", QdrantClientCardStore(":memory:", embedder.id,
                                                                                   embedder.dim, "small")),
                                ("edge", EdgeCardStore(work / "small", embedder.id, embedder.dim, "small"))):
                fill_s = fill(small, rng, users, args.cards, embedder.dim, prefix="small")
                small_core = RetrievalService(settings, embedder, small)

                async def small_dense_policy(i, small_core=small_core):
                    await small_core.retrieve_vector(small_request(i), query_vectors[i % 64])

                n = args.local_queries if name.startswith("qdrant") else args.queries
                results[f"{name}, {args.local_cards} cards: dense + policy"] = percentiles(
                    await timed(small_dense_policy, n)) | {"fill_s": fill_s}
                small.close()
        await uservec.close()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return {"results": results, "notes": notes}


def report(out: dict) -> None:
    table = Table("measurement", "n", "p50 ms", "p99 ms", "qps",
                  title="retrieval latency (10,000 users x 40 cards unless named)")
    for name, r in out["results"].items():
        table.add_row(name, str(r["n"]), f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['qps']:.1f}")
    Console().print(table)
    Console().print_json(json.dumps(out["notes"], default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--cards", type=int, default=40)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--select-k", type=int, default=3)
    parser.add_argument("--queries", type=int, default=2000, help="dense (+ policy) queries")
    parser.add_argument("--embed-queries", type=int, default=300, help="whole retrieves with the query embedding")
    parser.add_argument("--grpc-queries", type=int, default=300)
    parser.add_argument("--probe-users", type=int, default=500, help="users the queries go to")
    parser.add_argument("--profile-users", type=int, default=8, help="users with a real MiniLM-embedded profile")
    parser.add_argument("--concurrency", type=int, default=8, help="callers at once for the batching comparison")
    parser.add_argument("--rerank-queries", type=int, default=5)
    parser.add_argument("--rerank-top-k", type=int, default=8)
    parser.add_argument("--local-cards", type=int, default=10_000)
    parser.add_argument("--local-queries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", help="where the shards go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--model-data-dir", default=os.environ.get("ATTUNE_DATA_DIR", str(ROOT / ".attune")))
    parser.add_argument("--json-out", help="write the figures here")
    args = parser.parse_args()
    setup_logging("bench", "warning", json=True)
    out = asyncio.run(bench(args))
    report(out)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2, default=str))



if __name__ == "__main__":
    main()
