"""An OrderedHash fed segments in any order from many threads equals the hash of the bytes read in order."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from synthetic_weights import REFERENCE_HASHES

from shardstack_runtime.weights.hashing import HASHES, OrderedHash, new_hash


@pytest.mark.parametrize("hash_name", HASHES)
def test_segments_from_many_threads_in_shuffled_order_hash_as_in_order(hash_name: str) -> None:
    data = random.Random(7).randbytes(3 << 20)
    cuts = sorted(random.Random(8).sample(range(1, len(data)), 200))
    segments = [memoryview(data)[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    order = list(range(len(segments)))
    random.Random(9).shuffle(order)
    done: list[str] = []
    released: list[int] = []
    lock = threading.Lock()

    def release(index: int) -> None:
        with lock:
            released.append(index)

    ordered = OrderedHash(hash_name, len(segments), done.append)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: ordered.add(i, segments[i], lambda: release(i)), order))
    assert done == [ordered.digest] == [REFERENCE_HASHES[hash_name](data)]
    assert sorted(released) == list(range(len(segments)))  # each buffer given back once, once hashed


def test_what_on_done_raises_reaches_the_thread_that_completed_the_range() -> None:
    def refuse(digest: str) -> None:
        raise ValueError(f"mismatch: {digest}")

    ordered = OrderedHash("blake3", 2, refuse)
    ordered.add(1, memoryview(b"world"))  # parked: nothing is hashed, nothing raised
    with pytest.raises(ValueError, match="mismatch: " + REFERENCE_HASHES["blake3"](b"helloworld")):
        ordered.add(0, memoryview(b"hello"))


def test_an_empty_range_finishes_with_the_hash_of_no_bytes_and_a_segment_is_taken_once() -> None:
    done: list[str] = []
    empty = OrderedHash("sha256", 0, done.append)
    empty.finish()
    assert done == [REFERENCE_HASHES["sha256"](b"")]
    ordered = OrderedHash("sha256", 2, done.append)
    ordered.add(1, memoryview(b"b"))
    with pytest.raises(ValueError, match="segment 1 of 2 added twice"):
        ordered.add(1, memoryview(b"b"))
    with pytest.raises(RuntimeError, match="0 of 2 segments hashed"):
        ordered.finish()
    with pytest.raises(ValueError, match="unknown hash 'md5'"):
        new_hash("md5")
