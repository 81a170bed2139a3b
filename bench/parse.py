"""Parse + validate timings of realistic scripts; one JSON line of figures.

    python bench/parse.py                  # 20000 rounds per document
    python bench/parse.py --rounds 2000 --stages

Each document is a file of the valid corpus (schemas/corpus/valid/), so the bench and
the tests read the same scripts: a 4-verb script, a 20-verb IVR, a Gather with nested
prompts, a Bridge with 3 targets. One round is ``engine.document.parse_uncached`` on
the raw bytes, everything the engine does between receiving a new body and running its
first verb: the hardened lxml parse, the shape and root checks, schema validation and every
verb's ``parse``. Figures per document: p50/p99 µs and documents/s (1e6 / mean µs), in
one process on one core. ``--stages`` adds the same figures for the three stages alone
(xml parse, schema validation, verb parse), to see where a regression lives;
``cached_p99_us`` is the same body again, served by parse_document's LRU.

Target: p99 < 100 µs per document (cold) on a 2-core machine. A document the running
engine refuses (a verb not registered yet) is reported with its error instead of times.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import document, schema  # noqa: E402
from engine.errors import DocumentError  # noqa: E402
from verbs import parse_verb  # noqa: E402

CORPUS = ROOT / "schemas" / "corpus" / "valid"
DOCUMENTS = {
    "script_4_verbs": "four_verbs.xml",
    "ivr_20_verbs": "twenty_verb_ivr.xml",
    "gather_nested_prompts": "main_menu.xml",
    "bridge_3_targets": "bridge_three_targets.xml",
}


def timings(work: Callable[[], object], rounds: int) -> dict[str, float]:
    """p50/p99 µs and rate of ``work`` over ``rounds`` calls, after a warm-up."""
    for _ in range(min(1000, rounds)):
        work()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        start = clock()
        work()
        samples.append(clock() - start)
    samples.sort()
    mean_us = statistics.fmean(samples) / 1000
    return {
        "p50_us": round(samples[len(samples) // 2] / 1000, 1),
        "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 1),
        "docs_per_s": round(1e6 / mean_us),
    }


def stages(body: bytes, rounds: int) -> dict[str, dict[str, float]]:
    """The three stages of ``parse_document`` timed alone."""
    root = document._parse_xml(body, "")
    current = schema.dialect()
    return {
        "xml": timings(lambda: document._parse_xml(body, ""), rounds),
        "schema": timings(lambda: current.schema.validate(root), rounds),
        "verbs": timings(lambda: [parse_verb(child) for child in root], rounds),
    }


def measure(name: str, body: bytes, rounds: int, with_stages: bool) -> dict[str, object]:
    try:
        verbs = document.parse_document(body)
    except DocumentError as exc:
        return {"error": str(exc)}
    figures: dict[str, object] = {"verbs": len(verbs), "bytes": len(body)}
    figures.update(timings(lambda: document.parse_uncached(body), rounds))
    cached = timings(lambda: document.parse_document(body), rounds)
    figures["cached_p99_us"] = cached["p99_us"]
    if with_stages:
        figures["stages"] = stages(body, rounds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--stages", action="store_true", help="time each stage alone too")
    args = parser.parse_args()
    gc.collect()
    results = {
        name: measure(name, (CORPUS / file).read_bytes(), args.rounds, args.stages)
        for name, file in DOCUMENTS.items()
    }
    timed = [r for r in results.values() if "p99_us" in r]
    print(json.dumps({
        "bench": "parse",
        "rounds": args.rounds,
        "documents": results,
        "worst_p99_us": max((r["p99_us"] for r in timed), default=None),
        "target_p99_us": 100,
    }))


if __name__ == "__main__":
    main()
