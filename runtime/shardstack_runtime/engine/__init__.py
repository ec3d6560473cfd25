"""The serving engine: continuous batching over a model shard, its passes run here or through a pipeline.

- :mod:`.engine`: :class:`~.engine.Engine`, the thread, the callers' queues, loading, ``generate()`` and stats;
  it composes a scheduler with an executor.
- :mod:`.scheduler`: each step: admission, lanes of slots, what every pass holds, finishing sequences.
- :mod:`.executor`: the :class:`~.executor.Executor` protocol the scheduler drives, and the
  :class:`~.executor.LocalExecutor` that runs each pass in this process.
- :mod:`.pipeline`: the pipeline's leader, :func:`~.pipeline.pipeline_engine` (an Engine with a
  :class:`~.pipeline.PipelineExecutor`); :mod:`.worker`: the other ranks (:func:`~.worker.run_worker`);
  :mod:`.wire`: what crosses the wire between them.
- :mod:`.lanes`, :mod:`.batch`, :mod:`.kv_cache`: the sequences, lanes and passes the scheduler tracks, the
  slots and positions of one pass, and the KV cache they index.

Nothing is imported here: the model (``shardstack_runtime.model``) uses :mod:`.batch` and :mod:`.kv_cache`,
and the engine runs the model, so importing the engine's modules from this package's ``__init__`` would
make an import cycle. Import from the modules: ``from shardstack_runtime.engine.engine import Engine``.
"""
