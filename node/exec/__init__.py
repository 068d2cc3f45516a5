"""node/exec: the executor seam between the agent and container back ends.

* :mod:`node.exec.executor` -- ``Executor`` / ``Controller`` (the contract), ``ContainerInfo``,
  ``LogRecord``, Docker's task naming and labels;
* :mod:`node.exec.errors` -- the one exception tree (temporary vs permanent in the type);
* :mod:`node.exec.fake` -- the instant scriptable ``FakeExecutor`` (tests, scale benchmark);
* :mod:`node.exec.runtime` -- ``RuntimeExecutor`` over ``node.runtime`` + ``node.images``
  (imported on demand: it pulls in the runtime), with :mod:`node.exec.containerspec` for the
  task -> container config mapping.

Every executor passes ``tests/unit/exec/test_conformance.py``.
"""
