"""What :class:`pace.MultiStepTask` and :class:`pace.StagedGroup` share: a connection (their
own, or a :class:`pace.Client`'s), and the :class:`pace.workflows.batch.Batch` of their id, made on
first use."""

from __future__ import annotations

from typing import ClassVar

from pace.client import Client
from pace.connection import Opened
from pace.errors import NoSuchBatch, PaceError
from pace.keys import DEFAULT_NAMESPACE
from pace.workflows.batch import Batch
from pace.workflows.model import BatchState, Kind

__all__ = ["BatchHandle"]


class BatchHandle(Opened):
    """A handle on one batch; subclasses name its kind, its "gone" error and its id.

    A handle made by a ``create`` is stored when awaited or entered; until then, using it
    raises a :class:`pace.PaceError` that says so (``_unstored`` names the call to await).
    """

    _kind: ClassVar[Kind]
    _missing: ClassVar[type[NoSuchBatch]]

    def __init__(
        self,
        *,
        client: Client | None = None,
        redis_url: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self._client = client if client is not None else Client(redis_url, namespace=namespace)
        self._owns = client is None
        self._created = False
        self._unstored: str | None = None
        self._batch: Batch | None = None

    @property
    def batch_id(self) -> str:
        """The batch's id."""
        raise NotImplementedError

    async def _get(self) -> Batch:
        if self._unstored is not None:
            what = type(self).__name__
            raise PaceError(
                f"this {what} was never stored: {self._unstored} returns a {what} to await "
                f"(x = await {self._unstored}) or to enter (async with {self._unstored} as x:)"
            )
        return await self._handle()

    async def _any_kind(self) -> Batch:
        """The batch of this id, whatever its kind (a job's status message works on any)."""
        return Batch(await self._client.redis(), self._client.keys, self.batch_id)

    async def _handle(self) -> Batch:
        if self._batch is None:
            redis = await self._client.redis()
            self._batch = Batch(
                redis, self._client.keys, self.batch_id, kind=self._kind, missing=self._missing
            )
        return self._batch

    async def aclose(self) -> None:
        """Close the connection, if this handle opened it."""
        if self._owns:
            await self._client.aclose()

    async def exists(self) -> bool:
        """True while the batch exists (resque-stages' ``!blank?``, resque-multi-step's
        ``active?``)."""
        return await (await self._get()).exists()

    async def state(self) -> BatchState:
        """Everything about the batch at this moment (a
        :class:`pace.workflows.model.BatchState`)."""
        return await (await self._get()).state()

    async def delete(self) -> bool:
        """Delete the batch's state (a multi-step task's queue too; jobs already in a queue
        run as plain jobs). False if it was gone."""
        return await (await self._get()).delete()
