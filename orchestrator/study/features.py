"""User style features from what users write, and k-means clusters of users (scikit-learn).

- verbosity: mean words per user message;
- formality: per message, polite/formal markers minus casual ones, averaged;
- sentiment: per message, positive minus negative words, averaged.

The two lexicons are small and plain on purpose: they are features for
clustering and for reading the results, not a sentiment model (the usual
maintained ones, such as NLTK's VADER, need a lexicon download this machine
cannot make).
"""

from __future__ import annotations

import re

import numpy as np

from attune.orchestrator.study.data import User

FORMAL = frozenset("please kindly would could may thank thanks certainly good evening morning afternoon".split())
CASUAL = frozenset("hey yo ok okay gonna wanna ugh yeah nah cheers stuff".split())
POSITIVE = frozenset("lovely great nice good thanks thank love happy cheerful enjoy wonderful cozy".split())
NEGATIVE = frozenset("ugh not mood annoying hate bad tired fiddling grumpy cold awful".split())
FEATURES = ("verbosity", "formality", "sentiment")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def style(messages: list[str]) -> dict[str, float]:
    """The three features of a user's messages (0 for a user with none)."""
    tokens = [words(m) for m in messages]
    if not tokens:
        return dict.fromkeys(FEATURES, 0.0)

    def marker_rate(plus: frozenset, minus: frozenset) -> float:
        return float(np.mean([(sum(w in plus for w in t) - sum(w in minus for w in t)) / max(len(t), 1)
                              for t in tokens]))

    return {"verbosity": float(np.mean([len(t) for t in tokens])),
            "formality": marker_rate(FORMAL, CASUAL), "sentiment": marker_rate(POSITIVE, NEGATIVE)}


def user_styles(users: list[User], sessions: dict[str, list[int]]) -> dict[str, dict[str, float]]:
    """Features of each user's messages in the given sessions (the train split: nothing later leaks in)."""
    out = {}
    for user in users:
        wanted = set(sessions[user.user_id])
        out[user.user_id] = style([m.text for s in user.sessions if s.session_id in wanted
                                   for m in s.messages if m.role == "user"])
    return out


def clusters(styles: dict[str, dict[str, float]], k: int, seed: int = 0) -> tuple[dict[str, int], float | None]:
    """k-means on the standardized features: user -> cluster, and the silhouette score (None when undefined)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    users = sorted(styles)
    k = max(1, min(k, len(users)))
    matrix = StandardScaler().fit_transform(np.array([[styles[u][f] for f in FEATURES] for u in users]))
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(matrix)
    score = float(silhouette_score(matrix, labels)) if 1 < len(set(labels)) < len(users) else None
    return {u: int(c) for u, c in zip(users, labels, strict=True)}, score
