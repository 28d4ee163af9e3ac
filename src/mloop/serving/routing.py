"""Which model answers a request: canary split by weight, sticky per routing key.

With an ``X-Routing-Key`` the choice is a hash of the key, so one customer always sees one model,
and raising the weight only moves customers from the primary to the canary, never back and forth.
Without a key the choice is random by weight. Shadow scoring never decides the answer; whether
it runs at all is the shadow gate's call (``ShadowGate``), which sheds it first under load.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

BUCKETS = 10_000  # weight is a whole percent; 100 buckets per point keeps the split exact


def bucket(routing_key: str) -> int:
    """The key's fixed place in 0..9999: BLAKE2b, so it is the same in every process and run."""
    digest = hashlib.blake2b(routing_key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def goes_to_canary(weight: int | None, routing_key: str | None, rng: random.Random) -> bool:
    """True when this request is the canary's: ``weight`` percent of keys, or of requests."""
    if not weight:
        return False
    if routing_key is not None:
        return bucket(routing_key) < weight * (BUCKETS // 100)
    return rng.random() * 100 < weight


@dataclass
class ShadowGate:
    """Admits shadow work only while the endpoint has room: shadow is shed before the primary.

    A shadow request is skipped when the shadow already has ``limit`` requests pending, or when
    the endpoint's own work fills half its queue (the primary is busy; shadow would compete).
    """

    limit: int
    pending: int = 0
    shed: int = 0

    def admit(self, endpoint_in_flight: int, endpoint_queue: int) -> bool:
        if self.pending >= self.limit or endpoint_in_flight * 2 > endpoint_queue:
            self.shed += 1
            return False
        self.pending += 1
        return True

    def done(self) -> None:
        self.pending -= 1
