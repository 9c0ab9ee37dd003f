"""A separate engine process for the concurrency tests: ingests the contacts it is given on stdin,
in its own shuffled order on four connections at once, and prints the results as JSON."""

import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor

from cic_engine.config import CicConfig
from cic_engine.engine import Engine
from cic_engine.models import InboundContact
from cic_engine.store import Store


def main() -> None:
    url, seed = sys.argv[1], int(sys.argv[2])
    contacts = [InboundContact.model_validate(c) for c in json.loads(sys.stdin.readline())]
    random.Random(seed).shuffle(contacts)
    store = Store(url, min_size=4, max_size=4).open()
    engine = Engine(store, CicConfig())
    engine.load_directory()
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(engine.ingest, contacts))
    store.close()
    print(json.dumps([{"external_id": c.external_id, **r.model_dump()} for c, r in zip(contacts, results, strict=True)]))


if __name__ == "__main__":
    main()
