"""The check that every client frame is masked, over any split of the byte stream."""

from __future__ import annotations

import random

from pchat.protocol.wsframe import MaskCheck
from tests.rawws import client_frame

SIZES = [0, 1, 125, 126, 127, 200, 65535, 65536, 70000]


def _stream(unmasked_at: int | None) -> bytes:
    frames = [
        client_frame(bytes(n), masked=i != unmasked_at, opcode=0x1 if n % 2 else 0x2)
        for i, n in enumerate(SIZES)
    ]
    return b"".join(frames)


def _feed_in_chunks(data: bytes, rng: random.Random) -> bool:
    check = MaskCheck()
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 2, 3, 7, 13, 100, 4096])
        if not check.feed(data[pos : pos + step]):
            return False
        pos += step
    return True


def test_masked_frames_pass_however_the_stream_is_cut() -> None:
    data = _stream(None)
    rng = random.Random(1)
    for _ in range(20):
        assert _feed_in_chunks(data, rng)
    assert MaskCheck().feed(data)


def test_an_unmasked_frame_is_found_wherever_it_is() -> None:
    rng = random.Random(2)
    for index in range(len(SIZES)):
        data = _stream(index)
        assert not MaskCheck().feed(data), index
        for _ in range(5):
            assert not _feed_in_chunks(data, rng), index


def test_a_header_cut_in_the_middle_waits_for_the_rest() -> None:
    frame = client_frame(bytes(300), masked=False)  # 4-byte header: 126 and a length
    check = MaskCheck()
    assert check.feed(frame[:1])
    assert not check.feed(frame[1:3])
