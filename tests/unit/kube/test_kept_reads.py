"""An answer is kept ttl seconds by the injected clock, one read per key is out at a time, and a
failed read is not kept (kube/kept_reads.py)."""

from __future__ import annotations

import asyncio

import pytest

from overture.kube.kept_reads import KeptReads


class Source:
    """A read that answers ``key@n`` (n counts the reads) once ``answer`` is set."""

    def __init__(self, fail_first: bool = False) -> None:
        self.reads: list[str] = []
        self.answer = asyncio.Event()
        self.fail_first = fail_first

    async def read(self, key: str) -> str:
        self.reads.append(key)
        await self.answer.wait()
        if self.fail_first and len(self.reads) == 1:
            raise ConnectionError("API server restarting")
        return f"{key}@{len(self.reads)}"


def answering_at_once(now: list[float]) -> KeptReads[str, str]:
    """Answers kept 10 s by the clock ``now[0]``, from a read that answers at once."""
    source = Source()
    source.answer.set()
    return KeptReads(10.0, source.read, clock=lambda: now[0])


def test_an_answer_is_kept_until_ttl_by_the_clock() -> None:
    async def scenario() -> list[str]:
        now = [100.0]
        kept = answering_at_once(now)
        answers = [await kept.get("ns")]
        now[0] = 109.9
        answers.append(await kept.get("ns"))  # still kept
        now[0] = 110.0
        answers.append(await kept.get("ns"))  # ttl reached: read again
        return answers

    assert asyncio.run(scenario()) == ["ns@1", "ns@1", "ns@2"]


def test_the_age_counts_from_when_the_read_was_asked_for() -> None:
    """A read that took 8 s gives an answer 8 s old: kept 2 s more, not 10."""

    async def scenario() -> list[str]:
        source = Source()
        now = [0.0]
        kept = KeptReads(10.0, source.read, clock=lambda: now[0])
        first = asyncio.ensure_future(kept.get("ns"))
        await asyncio.sleep(0)
        now[0] = 8.0
        source.answer.set()
        answers = [await first]
        now[0] = 10.0
        answers.append(await kept.get("ns"))
        return answers

    assert asyncio.run(scenario()) == ["ns@1", "ns@2"]


def test_concurrent_askers_share_one_read_and_keys_are_read_apart() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        source = Source()
        kept = KeptReads(10.0, source.read, clock=lambda: 0.0)
        asking = [asyncio.ensure_future(kept.get(key)) for key in ["a"] * 20 + ["b"] * 20]
        await asyncio.sleep(0)
        source.answer.set()
        return sorted(set(await asyncio.gather(*asking))), source.reads

    assert asyncio.run(scenario()) == (["a@1", "b@2"], ["a", "b"])


def test_a_cancelled_asker_does_not_cancel_the_others() -> None:
    async def scenario() -> tuple[str, list[str]]:
        source = Source()
        kept = KeptReads(10.0, source.read, clock=lambda: 0.0)
        first = asyncio.ensure_future(kept.get("ns"))
        second = asyncio.ensure_future(kept.get("ns"))
        await asyncio.sleep(0)
        first.cancel()
        source.answer.set()
        answer = await second
        with pytest.raises(asyncio.CancelledError):
            await first
        await kept.get("ns")  # kept now
        return answer, source.reads

    assert asyncio.run(scenario()) == ("ns@1", ["ns"])


def test_a_read_still_out_when_every_asker_is_cancelled_is_kept_for_the_next() -> None:
    async def scenario() -> tuple[str, list[str]]:
        source = Source()
        kept = KeptReads(10.0, source.read, clock=lambda: 0.0)
        only = asyncio.ensure_future(kept.get("ns"))
        await asyncio.sleep(0)
        only.cancel()
        source.answer.set()
        await asyncio.sleep(0)
        return await kept.get("ns"), source.reads

    assert asyncio.run(scenario()) == ("ns@1", ["ns"])


def test_a_failed_read_fails_for_all_who_awaited_it_and_is_not_kept() -> None:
    async def scenario() -> tuple[list[bool], str, list[str]]:
        source = Source(fail_first=True)
        kept = KeptReads(10.0, source.read, clock=lambda: 0.0)
        asking = [asyncio.ensure_future(kept.get("ns")) for _ in range(3)]
        await asyncio.sleep(0)
        source.answer.set()
        failed = [isinstance(r, ConnectionError) for r in await asyncio.gather(*asking, return_exceptions=True)]
        assert list(kept) == []
        return failed, await kept.get("ns"), source.reads

    assert asyncio.run(scenario()) == ([True, True, True], "ns@2", ["ns", "ns"])


def test_stale_answers_are_dropped_at_the_next_read() -> None:
    """One entry per namespace ever asked about would grow with the tenants."""

    async def scenario() -> list[str]:
        now = [0.0]
        kept = answering_at_once(now)
        await kept.get("old")
        now[0] = 5.0
        await kept.get("fresh")
        now[0] = 12.0
        await kept.get("new")
        return sorted(kept)

    assert asyncio.run(scenario()) == ["fresh", "new"]
