#!/usr/bin/env python3
"""Generate the bundled replay sample deterministically (same seed -> same bytes).

    python tools/make_sample_tweets.py [--count 1200] [--out PATH]

The default output is src/tweet_pipeline/data/sample_tweets.ndjson (package data).

Each line is an X API v2 tweet object (id, text, author_id, created_at, lang,
conversation_id, edit_history_tweet_ids, possibly_sensitive, public_metrics, entities). Ids are
snowflakes derived from created_at, so they are unique and increase with time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

SEED = 20241120
TWITTER_EPOCH_MS = 1288834974657
START = dt.datetime(2024, 11, 20, 9, 0, 0, tzinfo=dt.UTC)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/tweet_pipeline/data/sample_tweets.ndjson"

TOPICS = {
    "en": [
        ("Kafka", "Just moved our event pipeline to {t}, consumer lag finally under control"),
        ("Kafka", "Reading about exactly-once semantics in {t} again. Idempotent producers FTW"),
        ("AWS", "Spun up a new cluster on {t} EC2 this morning, terraform plan was clean for once"),
        ("Python", "{t} 3.13 free-threading benchmarks look promising for our stream workers"),
        ("DataEngineering", "Hot take: most #{t} problems are schema problems"),
        ("Ansible", "Idempotence check passed on the first try. {t} roles are finally tidy"),
        ("Observability", "Added a publish latency histogram; p99 tells a very different story"),
        ("Streaming", "Backpressure is a feature, not a bug. #{t}"),
        ("OpenSource", "Shipped a small fix upstream today, maintainers were super helpful #{t}"),
        ("Kafka", "Partition count is forever (well, almost). Plan your keys for {t}"),
    ],
    "es": [
        ("Kafka", "Migramos el pipeline de eventos a {t} y el lag bajó muchísimo"),
        ("Python", "Probando {t} para procesar el stream en tiempo real"),
        ("AWS", "Nuevo despliegue en {t} con Ansible, todo idempotente"),
    ],
    "fr": [
        ("Kafka", "Enfin un consumer group stable avec {t}, plus de rebalancing en boucle"),
        ("DataEngineering", "Le #{t} c'est 80% de nettoyage de données"),
    ],
    "de": [
        ("Kafka", "Heute {t} Cluster auf KRaft umgestellt, ZooKeeper ade"),
        ("Python", "Typisierung mit mypy in {t} Projekten spart so viel Zeit"),
    ],
    "ja": [
        ("Kafka", "{t}のコンシューマーラグがやっと安定した"),
        ("Python", "{t}でストリーム処理を書いている"),
    ],
    "pt": [
        ("Kafka", "Colocamos {t} em produção hoje, tudo certo até agora"),
    ],
}
LANG_WEIGHTS = {"en": 70, "es": 10, "fr": 6, "de": 6, "ja": 5, "pt": 3}
USERS = [(str(1_000_000_000 + i * 7919), f"user_{i:03d}") for i in range(150)]
EXTRAS = ["", "", "", " 🚀", " 😅", " (thread 🧵)", " #buildinpublic", " 👀", "!"]


def snowflake(when: dt.datetime, worker: int, seq: int) -> int:
    ms = int(when.timestamp() * 1000)
    return ((ms - TWITTER_EPOCH_MS) << 22) | ((worker & 0x3FF) << 12) | (seq & 0xFFF)


def make_tweet(rng: random.Random, index: int, when: dt.datetime) -> dict[str, object]:
    lang = rng.choices(list(LANG_WEIGHTS), weights=list(LANG_WEIGHTS.values()))[0]
    tag, template = rng.choice(TOPICS[lang])
    author_id, _ = rng.choice(USERS)
    text = template.format(t=tag) + rng.choice(EXTRAS)
    entities: dict[str, list[dict[str, object]]] = {}
    mention = None
    if rng.random() < 0.25:
        mention_id, mention = rng.choice(USERS)
        text = f"@{mention} {text}"
        entities["mentions"] = [
            {"start": 0, "end": len(mention) + 1, "username": mention, "id": mention_id}
        ]
    if f"#{tag}" in text:
        start = text.index(f"#{tag}")
        entities["hashtags"] = [{"start": start, "end": start + len(tag) + 1, "tag": tag}]
    tweet_id = str(snowflake(when, worker=index % 32, seq=index))
    impressions = int(rng.paretovariate(1.3) * 40)
    tweet: dict[str, object] = {
        "id": tweet_id,
        "text": text,
        "author_id": author_id,
        "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
        "lang": lang,
        "conversation_id": tweet_id,
        "edit_history_tweet_ids": [tweet_id],
        "possibly_sensitive": False,
        "public_metrics": {
            "retweet_count": impressions // rng.randint(40, 400),
            "reply_count": impressions // rng.randint(50, 500),
            "like_count": impressions // rng.randint(8, 60),
            "quote_count": impressions // rng.randint(300, 3000),
            "bookmark_count": impressions // rng.randint(100, 1000),
            "impression_count": impressions,
        },
    }
    if entities:
        tweet["entities"] = entities
    return tweet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rng = random.Random(SEED)
    when = START
    lines = []
    for index in range(args.count):
        when += dt.timedelta(milliseconds=rng.randint(50, 4000))
        tweet = make_tweet(rng, index, when)
        lines.append(json.dumps(tweet, ensure_ascii=False, separators=(",", ":")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.count} tweets to {args.out}")


if __name__ == "__main__":
    main()
