"""RetrievalService: per-user preference cards, dense retrieval, rerank, policy selection.

Retrieve runs four stages over one user's cards, all filtered by user inside Qdrant:

1. search: the top_k cards by the hybrid ranking (``scoring=hybrid``, the default: the query's MiniLM
   embedding against each card's condition and preference, and its BM25 keywords weighted by IDF over the
   user's own cards, fused by weighted reciprocal rank inside the engine), or by the whole card's embedding
   (``scoring=card``);
2. rerank (when asked): a local cross-encoder, else the LLM through the model service;
3. policy: ``attune.services.common.policy.policy`` over the base scores (rerank scores when
   reranked, else the search's scores) and the cards' item vectors, with the user's
   z_long / z_short from the user-vector service when ``use_user_vector`` is set
   (zeros otherwise: a plain softmax);
4. conflicts (``conflict_choice=condition``): of the cards of one conflict group the one whose condition
   is most like the request goes first, and the select_k best are selected with at most one card of a
   group, unless the conditions of both hold for the request.

The in-process object, the gRPC servicer and the client all speak the attune.v1
messages, so a caller holds either this class or ``RetrievalClient``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np
import qdrant_edge

from attune.services.common import metrics
from attune.services.common.cards import card_id as stable_card_id
from attune.services.common.cards import unconditional
from attune.services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from attune.services.common.logging import get_logger, request_context
from attune.services.common.policy import PolicyConfig, item_vectors, policy, policy_from_env
from attune.services.common.validation import check_id
from attune.services.retrieval.cardstore import CONDITION, CardPoint, CardStore, StoredCard
from attune.services.retrieval.conflicts import choose_by_condition
from attune.services.retrieval.rerank import CrossEncoderReranker, LLMReranker, Reranker, card_text
from attune.services.retrieval.search import HybridQuery, sparse
from attune.services.retrieval.settings import RetrievalSettings
from attune.v1 import common_pb2, retrieval_pb2, uservec_pb2

log = get_logger(__name__)

CARD_FIELDS = ("card_id", "user_id", "condition", "preference", "conflict_group", "evidence", "confidence",
               "created_at_ms", "session_id")


def card_payload(card: common_pb2.PreferenceCard) -> dict:
    """The whole card as the point's payload."""
    return {f: getattr(card, f) for f in CARD_FIELDS}


def payload_card(payload: dict) -> common_pb2.PreferenceCard:
    return common_pb2.PreferenceCard(**{f: payload[f] for f in CARD_FIELDS if f in payload})


def condition_text(card: common_pb2.PreferenceCard) -> str:
    """What a card's condition is embedded as: a card with none applies always."""
    return card.condition.strip() or "always"


class _Timer:
    def __init__(self, stage: str):
        self.stage = stage

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        metrics.RETRIEVAL_STAGE.labels(self.stage).observe(time.perf_counter() - self.start)


class RetrievalService:
    """Upsert, retrieve, list and delete preference cards over a CardStore.

    ``model`` (for the LLM rerank) has ``async chat`` and ``async get_info`` (ModelService
    or ModelClient); ``uservec`` has ``async get_vectors`` (UserVectorService or its client).
    """

    def __init__(self, settings: RetrievalSettings, embedder, store: CardStore, model=None, uservec=None,
                 reranker: Reranker | None = None, owns_embedder: bool = False, policy: PolicyConfig | None = None):
        if store.dim != embedder.dim or store.embedder_id != embedder.id:
            raise FailedPrecondition(f"the store holds {store.embedder_id} (dim {store.dim}) but the embedder is "
                                     f"{embedder.id} (dim {embedder.dim})")
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.model = model
        self.uservec = uservec
        # The policy's configuration (ATTUNE_POLICY_*), the same the user-vector service uses.
        self.policy_config = policy or PolicyConfig()
        if reranker is None:
            if settings.cross_encoder_path:
                reranker = CrossEncoderReranker(settings.cross_encoder_path)
            elif model is not None:
                reranker = LLMReranker(model, settings.rerank_llm_max_candidates, settings.rerank_llm_max_tokens)
        self.reranker = reranker
        self._writes = asyncio.Lock()
        self.bm25 = qdrant_edge.Bm25()
        # Built by ``build``: closing the service closes its embedder too (tests share one).
        self.owns_embedder = owns_embedder
        self.ready = True

    async def start(self) -> None:
        """Fill in the condition, preference and keyword vectors of cards stored before they were kept (a shard
        upgraded from layout 1): they are embedded again from their payloads."""
        filled = 0
        while missing := await self._store(self.store.missing_named, 256):
            cards = [payload_card(c.payload) for c in missing]
            points = await self._points(cards)
            async with self._writes:
                await self._store(self.store.upsert, points)
            filled += len(points)
        if filled:
            log.info("retrieval_vectors_filled_in", cards=filled)

    async def _points(self, cards: list[common_pb2.PreferenceCard]) -> list[CardPoint]:
        """Each card's whole, condition and preference embeddings (one encoder batch) and keywords."""
        texts = [t for c in cards for t in (card_text(c), condition_text(c), c.preference)]
        vectors = (await self.embedder.aembed(texts)).reshape(len(cards), 3, -1)
        return [CardPoint(c.user_id, c.card_id, v[0], card_payload(c), condition=v[1], preference=v[2],
                          keywords=sparse(self.bm25.embed_document(card_text(c))))
                for c, v in zip(cards, vectors, strict=True)]

    async def close(self) -> None:
        self.ready = False
        await self._store(self.store.close)
        if self.owns_embedder:
            self.embedder.close()

    # ---- the interface ----------------------------------------------------

    async def upsert_cards(self, request: retrieval_pb2.UpsertCardsRequest) -> retrieval_pb2.UpsertCardsResponse:
        cards = self._valid_cards(request.cards)
        with request_context(request.context):
            # No id given: the id the extractor gives too, so the same preference overwrites its card.
            ids = [c.card_id or stable_card_id(c.user_id, c.condition, c.preference) for c in cards]
            unique: dict[tuple[str, str], common_pb2.PreferenceCard] = {}
            for card, card_id in zip(cards, ids, strict=True):
                stored = common_pb2.PreferenceCard()
                stored.CopyFrom(card)
                stored.card_id = card_id
                unique[(card.user_id, card_id)] = stored  # a card named twice in one request: the last wins
            batch = list(unique.values())
            with _Timer("embed"):
                points = await self._points(batch)
            async with self._writes:
                await self._merge_existing(batch)
                points = [dataclasses.replace(p, payload=card_payload(c)) for p, c in zip(points, batch, strict=True)]
                await self._store(self.store.upsert, points)
            log.info("cards_upserted", cards=len(points), users=len({c.user_id for c in batch}))
            return retrieval_pb2.UpsertCardsResponse(card_ids=ids)

    async def retrieve(self, request: retrieval_pb2.RetrieveRequest) -> retrieval_pb2.RetrieveResponse:
        self._check_retrieve(request)
        with request_context(request.context):
            # The user's vectors are fetched while the query is embedded.
            user_vectors = asyncio.create_task(self._user_vectors(request))
            try:
                with _Timer("embed"):
                    vector = (await self.embedder.aembed([request.query]))[0]
            except BaseException:
                user_vectors.cancel()
                raise
            return await self.retrieve_vector(request, vector, user_vectors)

    async def retrieve_vector(self, request: retrieval_pb2.RetrieveRequest, vector: np.ndarray,
                              user_vectors: asyncio.Task | None = None) -> retrieval_pb2.RetrieveResponse:
        """Retrieve with the query already embedded (``retrieve`` without its first stage)."""
        top_k, select_k = self._check_retrieve(request)
        with request_context(request.context):
            if user_vectors is None:
                user_vectors = asyncio.create_task(self._user_vectors(request))
            try:
                return await self._retrieve(request, vector, top_k, select_k, user_vectors)
            finally:
                if not user_vectors.done():
                    user_vectors.cancel()  # no cards: the vectors were not needed
                elif not user_vectors.cancelled():
                    user_vectors.exception()  # retrieved, so an unused failure is not reported twice

    async def _retrieve(self, request: retrieval_pb2.RetrieveRequest, vector: np.ndarray, top_k: int, select_k: int,
                        user_vectors: asyncio.Task) -> retrieval_pb2.RetrieveResponse:
        with _Timer("search"):
            hits = await self._store(self.store.search, request.user_id, vector, top_k, self._hybrid(request.query))
        if not hits:
            return retrieval_pb2.RetrieveResponse(reranker="none")
        cards = [payload_card(h.payload) for h in hits]
        searched = np.array([h.score for h in hits], np.float32)
        dense = np.array([float(vector @ h.vector) for h in hits], np.float32)
        conditions = np.array([float(vector @ h.named[CONDITION]) if CONDITION in h.named else 0.0 for h in hits],
                              np.float32)
        rerank = np.zeros(len(hits), np.float32)
        reranker_name = "none"
        usage = common_pb2.TokenUsage()
        if request.rerank:
            cap = self.reranker.max_candidates()
            if cap is not None and len(hits) > cap:
                hits, cards, searched, dense, conditions = (hits[:cap], cards[:cap], searched[:cap], dense[:cap],
                                                            conditions[:cap])
            with _Timer("rerank"):
                rerank = np.array(await self.reranker.scores(request.query, cards, request.context, usage),
                                  np.float32)
            reranker_name = self.reranker.name
        base = rerank if request.rerank else searched
        items = item_vectors(np.stack([h.vector for h in hits]), self.policy_config.dim)
        z_long, z_short = await user_vectors
        with _Timer("policy"):
            scores, probs = policy(base, items, z_long, z_short, self.policy_config)
            # Best first; equal scores keep the search's order, so the result is deterministic.
            order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), i))
            if self.settings.conflict_choice == "condition":
                order, chosen = choose_by_condition(order, [c.conflict_group for c in cards], conditions, select_k,
                                                    self.settings.conditions_hold,
                                                    [unconditional(c.condition) for c in cards])
            else:
                chosen = set(order[:select_k])
        return retrieval_pb2.RetrieveResponse(reranker=reranker_name, usage=usage, candidates=[
            retrieval_pb2.ScoredCard(card=cards[i], dense_score=float(dense[i]), rerank_score=float(rerank[i]),
                                     probability=float(probs[i]), selected=i in chosen,
                                     item_vector=common_pb2.Vector(values=items[i].tolist()),
                                     condition_score=float(conditions[i]), search_score=float(searched[i]))
            for i in order])

    def _hybrid(self, query: str) -> HybridQuery | None:
        if self.settings.scoring != "hybrid":
            return None
        return HybridQuery(sparse(self.bm25.embed_query(query)), self.settings.hybrid_weights, self.settings.rrf_k,
                           depth=self.settings.max_top_k)

    async def list_cards(self, request: retrieval_pb2.ListCardsRequest) -> retrieval_pb2.ListCardsResponse:
        self._check_id("user_id", request.user_id)
        stored: list[StoredCard] = await self._store(self.store.list, request.user_id)
        return retrieval_pb2.ListCardsResponse(cards=[payload_card(c.payload) for c in stored])

    async def delete_card(self, request: retrieval_pb2.DeleteCardRequest) -> retrieval_pb2.DeleteResponse:
        self._check_id("user_id", request.user_id)
        self._check_id("card_id", request.card_id)
        async with self._writes:
            deleted = await self._store(self.store.delete_card, request.user_id, request.card_id)
        if not deleted:
            raise NotFound(f"user {request.user_id!r} has no card {request.card_id!r}")
        log.info("card_deleted", user_id=request.user_id, card_id=request.card_id)
        return retrieval_pb2.DeleteResponse(deleted=deleted)

    async def delete_user(self, request: retrieval_pb2.DeleteUserRequest) -> retrieval_pb2.DeleteResponse:
        self._check_id("user_id", request.user_id)
        async with self._writes:
            deleted = await self._store(self.store.delete_user, request.user_id)
        log.info("user_deleted", user_id=request.user_id, cards=deleted)
        return retrieval_pb2.DeleteResponse(deleted=deleted)

    # ---- stages -------------------------------------------------------------

    async def _store(self, fn, *args):
        """Run a store call: in a worker thread when it may wait on the network, else inline."""
        if self.store.blocking:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def _merge_existing(self, batch: list[common_pb2.PreferenceCard]) -> None:
        """A re-upserted card keeps the time it was first stored; new cards get now."""
        now = int(time.time() * 1000)
        by_user: dict[str, list[common_pb2.PreferenceCard]] = {}
        for card in batch:
            by_user.setdefault(card.user_id, []).append(card)
        for user_id, cards in by_user.items():
            existing = await self._store(self.store.get, user_id, [c.card_id for c in cards])
            first = {e.card_id: e.payload.get("created_at_ms", 0) for e in existing}
            for card in cards:
                times = [t for t in (first.get(card.card_id, 0), card.created_at_ms) if t > 0]
                card.created_at_ms = min(times) if times else now

    async def _user_vectors(self, request: retrieval_pb2.RetrieveRequest) -> tuple[np.ndarray, np.ndarray]:
        dim = self.policy_config.dim
        if not request.use_user_vector:
            zeros = np.zeros(dim, np.float32)
            return zeros, zeros
        with _Timer("uservec"):
            vectors = await self.uservec.get_vectors(uservec_pb2.GetVectorsRequest(user_id=request.user_id))
        out = []
        for name, vec in (("z_long", vectors.z_long), ("z_short", vectors.z_short)):
            values = np.asarray(vec.values, np.float32)
            if values.size == 0:
                values = np.zeros(dim, np.float32)
            if values.shape[0] != dim:
                raise FailedPrecondition(f"{name} of user {request.user_id!r} has dimension {values.shape[0]}, the "
                                         f"policy uses {dim}: both services must read the same ATTUNE_POLICY_DIM")
            if not np.isfinite(values).all():
                raise FailedPrecondition(f"{name} of user {request.user_id!r} is not finite")
            out.append(values)
        return out[0], out[1]

    # ---- validation -------------------------------------------------------

    def _check_id(self, field: str, value: str) -> None:
        check_id(field, value, self.settings.max_id_chars)

    def _check_text(self, field: str, value: str, required: bool) -> None:
        if required and not value.strip():
            raise InvalidArgument(field, "must not be empty")
        limit = self.settings.max_text_chars
        if len(value) > limit:
            raise InvalidArgument(field, f"is {len(value)} characters; the limit is {limit} "
                                  "(ATTUNE_RETRIEVAL_MAX_TEXT_CHARS)")

    def _valid_cards(self, cards: Sequence[common_pb2.PreferenceCard]) -> list[common_pb2.PreferenceCard]:
        if not cards:
            raise InvalidArgument("cards", "must not be empty")
        if len(cards) > self.settings.max_cards_per_request:
            raise InvalidArgument("cards", f"{len(cards)} cards; the limit is {self.settings.max_cards_per_request} "
                                  "per request")
        for i, c in enumerate(cards):
            self._check_id(f"cards[{i}].user_id", c.user_id)
            if c.card_id:
                self._check_id(f"cards[{i}].card_id", c.card_id)
            self._check_text(f"cards[{i}].preference", c.preference, required=True)
            self._check_text(f"cards[{i}].condition", c.condition, required=False)
            self._check_text(f"cards[{i}].evidence", c.evidence, required=False)
            for field in ("conflict_group", "session_id"):
                if len(getattr(c, field)) > self.settings.max_id_chars:
                    raise InvalidArgument(f"cards[{i}].{field}", f"is longer than {self.settings.max_id_chars} "
                                          "characters")
            if not math.isfinite(c.confidence) or not 0 <= c.confidence <= 1:
                raise InvalidArgument(f"cards[{i}].confidence", f"{c.confidence} is out of range 0..1")
            if c.created_at_ms < 0:
                raise InvalidArgument(f"cards[{i}].created_at_ms", "must not be negative")
        return list(cards)

    def _check_retrieve(self, request: retrieval_pb2.RetrieveRequest) -> tuple[int, int]:
        self._check_id("user_id", request.user_id)
        self._check_text("query", request.query, required=True)
        s = self.settings
        if request.top_k < 0 or request.top_k > s.max_top_k:
            raise InvalidArgument("top_k", f"{request.top_k} is out of range 1..{s.max_top_k} (0: {s.default_top_k})")
        top_k = request.top_k or s.default_top_k
        if request.select_k < 0 or request.select_k > top_k:
            raise InvalidArgument("select_k", f"{request.select_k} is out of range 1..top_k={top_k} "
                                  f"(0: {min(s.default_select_k, top_k)})")
        select_k = request.select_k or min(s.default_select_k, top_k)
        if request.rerank and self.reranker is None:
            raise FailedPrecondition("rerank asked for, but this service has no reranker: set "
                                     "ATTUNE_RETRIEVAL_CROSS_ENCODER_PATH or ATTUNE_MODEL_TARGET")
        if request.use_user_vector and self.uservec is None:
            raise FailedPrecondition("use_user_vector asked for, but this service has no user-vector service: set "
                                     "ATTUNE_USERVEC_TARGET")
        return top_k, select_k


def load_embedder(settings: RetrievalSettings):
    from attune.services.common.embeddings import Embedder

    return Embedder(settings.embedder_path, model_id=settings.embedder_id, batch_size=settings.embed_batch_size,
                    threads=settings.embed_threads, share_batches=settings.embed_share_batches)


async def build(context) -> RetrievalService:
    """The registry's factory: the embedder (in a worker thread), the card store under the state
    directory (or the Qdrant server of ATTUNE_QDRANT_URL), and the optional peers: ``model`` for the
    LLM rerank, ``uservec`` for the user vectors.

    A collection built by another embedder, or a shard folder held by another process, fails here.
    """
    from attune.services.common.settings import load
    from attune.services.retrieval.settings import QdrantSettings
    from attune.services.retrieval.store import open_store

    settings = context.settings
    embedder = await asyncio.to_thread(load_embedder, settings)
    qdrant = load(QdrantSettings)
    store = open_store(settings, embedder.id, embedder.dim, context.state_dir, qdrant.url, qdrant.api_key)
    try:
        core = RetrievalService(settings, embedder, store, model=context.peers.get("model"),
                                uservec=context.peers.get("uservec"), owns_embedder=True,
                                policy=policy_from_env())
    except BaseException:
        store.close()
        embedder.close()
        raise
    log.info("retrieval_opened", store=store.describe(), embedder=embedder.id, dim=embedder.dim, cards=store.count(),
             reranker=type(core.reranker).__name__ if core.reranker else "none",
             uservec="on" if core.uservec is not None else "off")
    return core
