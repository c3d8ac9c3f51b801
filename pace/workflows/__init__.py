"""Workflows: multi-step tasks and staged groups, both on one batch core.

- :mod:`pace.workflows.model`: the value types (jobs to add, a batch's state and counters).
- :mod:`pace.workflows.batch`: the batch core (one Lua script per change).
- :mod:`pace.workflows.handle`: what the two kinds share (a connection, their batch).
- :mod:`pace.workflows.multistep`: :class:`pace.MultiStepTask` (resque-multi-step).
- :mod:`pace.workflows.stages`: :class:`pace.StagedGroup` (resque-stages).
- :mod:`pace.workflows.rebuild`: staged groups rebuilt around orphaned jobs
  (``Cleaner.cleanup_jobs``).

A job of a workflow settles in the worker through the same scripts as any other job
(``pace/lua/ack.lua``, ``fail.lua``, ``retry.lua``), which also record it in its batch.
Nothing here imports the worker.
"""
