"""Check that a change to the request path leaves every answer byte-for-byte the same.

Scores the latest ``--declarations`` (200) declarations of ``--data-dir`` in process with
:class:`portsift.serving.app.DecisionService` (the bundle of ``--model-dir``, a fresh
SQLite audit store in a temporary directory for each mode, so that no mode is answered
from another's decisions on record), in the ways the API reaches it:

* ``single_en`` / ``single_zh``: one request per declaration (``POST /score`` alone);
* ``batch_en``: all of them in one request (``POST /score_batch``);
* ``merged``: groups of 16 one-declaration requests decided together, languages
  alternating (what :class:`portsift.serving.batching.MicroBatcher` does under 16 clients);
* ``loader_en``: one request whose records the fast reader refuses (a trailing space in
  every ``importer_id``), so that they go through the loader first.

Each request body goes through the API's pydantic ``Declaration`` model and
``declaration_record`` as in the server. Every decision is serialised as the server
serialises its answer (``pydantic_core.to_json``), and the audit store's stored text of
every decision is read back; the random ``request_id`` is replaced by a placeholder in
both. ``--write FILE`` saves the texts; ``--check FILE`` scores again and compares them
byte for byte, printing the first difference of each mode (exit status 1 on any)::

    .venv/bin/python benchmarks/same_answers.py --write benchmarks/out/answers-before.json
    # ... change the request path ...
    .venv/bin/python benchmarks/same_answers.py --check benchmarks/out/answers-before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydantic_core
from pydantic import TypeAdapter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.serve import load_records  # noqa: E402
from portsift.serving.api_models import Declaration, declaration_record  # noqa: E402
from portsift.serving.app import DecisionService, ScoreRequest  # noqa: E402
from portsift.serving.auth import TokenVerifier  # noqa: E402

#: One-declaration requests decided together in the ``merged`` mode (16 clients).
MERGED = 16


def _placeholder(text: str, request_id: str) -> str:
    # The request id is a fresh uuid per run: the only part of an answer that may differ.
    return text.replace(f'"request_id":"{request_id}"', '"request_id":"-"')


def _requests(records: list[dict[str, Any]]) -> dict[str, list[list[ScoreRequest]]]:
    """Per mode, the calls of ``score_requests`` to make (each a list of requests)."""
    singles = [[ScoreRequest([r], "en", "declaration")] for r in records]
    merged = [
        [
            ScoreRequest([r], "en" if (start + k) % 2 == 0 else "zh", "declaration")
            for k, r in enumerate(records[start : start + MERGED])
        ]
        for start in range(0, len(records), MERGED)
    ]
    spaced = [{**r, "importer_id": f"{r['importer_id']} "} for r in records]
    return {
        "single_en": singles,
        "single_zh": [[ScoreRequest([r], "zh", "declaration")] for r in records],
        "batch_en": [[ScoreRequest(records, "en", "declarations")]],
        "merged": merged,
        "loader_en": [[ScoreRequest(spaced, "en", "declarations")]],
    }


def answers(model_dir: Path, data_dir: Path, count: int) -> dict[str, list[str]]:
    """Score the declarations in every mode; the answer texts and audit texts per mode.

    Args:
        model_dir: The bundle.
        data_dir: Directory of ``declarations.csv`` (and ``lab_results.csv``).
        count: How many of the latest declarations.

    Returns:
        ``{mode: [text, ...], "audit:" + mode: [text, ...]}``, in request order.
    """
    adapter: TypeAdapter[Any] = TypeAdapter(Declaration)
    records = [
        declaration_record(adapter.validate_python(r)) for r in load_records(data_dir, count)
    ]
    out: dict[str, list[str]] = {}
    for mode, calls in _requests(records).items():
        # A fresh audit store per mode: in a shared one every mode after the first would
        # find its declarations on record and be answered as repeats, so that its own
        # scoring (the language, the batch, the loader) would never be compared.
        with tempfile.TemporaryDirectory(prefix="portsift-same-answers-") as tmp:
            service = DecisionService.load(
                model_dir,
                audit_url=f"sqlite:///{Path(tmp) / 'audit.db'}",
                verifier=TokenVerifier(),
            )
            try:
                texts: list[str] = []
                ids: list[str] = []
                for call in calls:
                    for result in service.score_requests(call):
                        if isinstance(result, Exception):
                            raise SystemExit(f"{mode}: {result}")
                        for decision in result:
                            text = pydantic_core.to_json(decision).decode("utf-8")
                            texts.append(_placeholder(text, decision["request_id"]))
                            ids.append(decision["request_id"])
                out[mode] = texts
                stored = [service.audit.get_decision(i) for i in ids]
                out[f"audit:{mode}"] = [
                    _placeholder(s.decision_json, i) if s is not None else "<missing>"
                    for s, i in zip(stored, ids, strict=True)
                ]
            finally:
                service.close()
    return out


def _digest(texts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    """Write or check the answers; exit status 1 when a check finds a difference."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "demo" / "model")
    parser.add_argument("--data-dir", type=Path, default=REPO / "demo" / "data")
    parser.add_argument("--declarations", type=int, default=200)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", type=Path, help="save the answers to this JSON file")
    what.add_argument("--check", type=Path, help="compare the answers with this JSON file")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as portsift serve runs LightGBM
    got = answers(args.model_dir, args.data_dir, args.declarations)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", "utf-8")
        for mode, texts in got.items():
            print(f"{mode}: {len(texts)} answers, sha256 {_digest(texts)[:16]}")
        print(f"wrote {args.write}")
        return 0
    expected: dict[str, list[str]] = json.loads(args.check.read_text("utf-8"))
    differ = 0
    for mode in sorted(set(expected) | set(got)):
        before, after = expected.get(mode, []), got.get(mode, [])
        same = before == after
        print(
            f"{mode}: {len(after)} answers, {'identical' if same else 'DIFFERENT'} "
            f"(sha256 {_digest(after)[:16]})"
        )
        if not same:
            differ += 1
            if len(before) != len(after):
                print(f"  {len(before)} answers before, {len(after)} now")
            for k, (a, b) in enumerate(zip(before, after, strict=False)):
                if a != b:
                    pairs = enumerate(zip(a, b, strict=False))
                    at = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
                    print(f"  first difference: answer {k}, character {at}")
                    print(f"  before: ...{a[max(0, at - 80) : at + 80]}")
                    print(f"  after:  ...{b[max(0, at - 80) : at + 80]}")
                    break
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
