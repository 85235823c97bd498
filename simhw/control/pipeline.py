"""The push pipeline: pushes at the head of the queue, applied in order, verified, committed, acknowledged.

Pushes are idempotent by config hash: one whose pattern the board already shows (verified by
readback at the last push) is not re-applied. Consecutive pushes are pipelined on the board link
(:class:`~drivers.capabilities.PipelinedPush`, or one by one on a board without it), their
records are committed in one transaction, and only then is each acknowledged.
"""

from __future__ import annotations

from drivers.capabilities import push_in_order
from simhw.control import schema
from simhw.control.operations import handler
from simhw.control.request import Batch, fail
from simhw.control.store import StoreFull
from simhw.values.phase_config import PhaseConfig

__all__ = ["PushPipeline"]


class PushPipeline:
    def __init__(self, bench):
        self.bench = bench

    def run(self, batch: list) -> None:
        """Apply and verify each push in order, commit all records in one transaction, then acknowledge;
        a failed push is answered with its error and the rest go on."""
        d = self.bench
        while batch:
            # a re-sent push of what the board shows is not re-applied, if the board confirms it shows it
            shown = batch[0].config.hash if d.shown.shows(batch[0].config.hash) else None
            plan = []
            for job in batch:
                plan.append((job, job.config.hash != shown))
                shown = job.config.hash
            sends = [job.config for job, applied in plan if applied]
            if sends:
                d.shown.forget()  # unknown until the readbacks match
            result = push_in_order(d.board, sends)
            done, sent = [], 0
            for job, applied in plan:
                if applied and sent == result.done:
                    break
                sent += applied
                done.append((job, applied))
            if result.error is None and sends:
                d.shown.verified(plan[-1][0].config.hash)
            try:
                self.acknowledge(done)
            except Exception as e:  # shown on the board but not recorded: not acknowledged, and no more applied
                for job in batch:
                    fail(d, job, e, None if isinstance(e, StoreFull) else "internal")
                return
            if result.error is None:
                return
            fail(d, batch[len(done)], result.error)
            batch = batch[len(done) + 1 :]

    def apply(self, cfg: PhaseConfig) -> bool:
        """Show ``cfg`` on the board, verified by readback, unless it is already shown; returns whether it was sent."""
        d = self.bench
        if d.shown.shows(cfg.hash):
            return False
        d.shown.forget()  # unknown until the readback matches
        d.board.push(cfg, verify=True)
        d.shown.verified(cfg.hash)
        return True

    def acknowledge(self, done: list) -> list[dict]:
        """Commit [(job, applied), ...] in one transaction, then reply and publish; returns the acks."""
        if not done:
            return []
        acks = self.bench.record_pushes(
            [(job.config, None, job.msg.id, applied, job.msg.header["config"]) for job, applied in done]
        )
        for (job, _), ack in zip(done, acks):
            if job.kind == "push":
                job.answer(schema.reply(job.msg.id, **ack))
        return acks


@handler("push")
def push(bench, batch: Batch) -> None:
    """Answers each push of the batch itself (after the group commit)."""
    bench.pipeline.run(batch.requests)
