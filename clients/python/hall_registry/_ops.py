"""One definition of each resource method for both the sync and the async client.

A resource method is written as a generator that yields
:class:`~hall_registry._http.Request` descriptions and returns a typed
result. Decorated with :func:`operation`, the method — looked up on a resource
owned by :class:`~hall_registry.Hall` — runs at once and returns the result;
looked up on a resource owned by :class:`~hall_registry.AsyncHall`, it
returns an awaitable. :func:`paginated` does the same for listings that span
pages, giving an iterator or an async iterator.

The overloads of ``__get__`` tell a type checker exactly that, so
``hall.workers.get("wrk_…")`` is a ``Worker`` and
``await async_hall.workers.get("wrk_…")`` is one too.
"""

from __future__ import annotations

import functools
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Generic,
    Iterator,
    Optional,
    TypeVar,
    Union,
    overload,
)

from ._config import ClientConfig
from ._http import AsyncRunner, Op, PageOp, SyncRunner

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing_extensions import Concatenate, ParamSpec

    P = ParamSpec("P")
else:  # Python 3.9 has no ParamSpec at run time; the annotations are never evaluated.
    P = TypeVar("P")

T = TypeVar("T")
RunnerT = TypeVar("RunnerT", bound=Union[SyncRunner, AsyncRunner])


class Resource(Generic[RunnerT]):
    """A group of registry endpoints (``hall.workers``, ``hall.decisions`` …)."""

    def __init__(self, runner: RunnerT, config: ClientConfig) -> None:
        self._runner: RunnerT = runner
        self._config = config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._config.registry}>"


class operation(Generic[P, T]):
    """Turns a generator of requests into a method of the sync and the async client."""

    def __init__(self, fn: "Callable[Concatenate[Any, P], Op[T]]") -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @overload
    def __get__(self, obj: None, owner: Any) -> "operation[P, T]": ...

    @overload
    def __get__(self, obj: "Resource[SyncRunner]", owner: Any) -> "Callable[P, T]": ...

    @overload
    def __get__(self, obj: "Resource[AsyncRunner]", owner: Any) -> "Callable[P, Awaitable[T]]": ...

    def __get__(self, obj: Optional[Resource[Any]], owner: Any) -> Any:
        if obj is None:
            return self
        fn = self._fn
        runner = obj._runner

        @functools.wraps(fn)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return runner.run(fn(obj, *args, **kwargs))

        return bound


class paginated(Generic[P, T]):
    """Like :class:`operation`, for a listing: the method returns how to fetch one page
    (a function of the cursor); the caller gets an iterator over every item of every page."""

    def __init__(
        self, fn: "Callable[Concatenate[Any, P], Callable[[Optional[str]], PageOp[T]]]"
    ) -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @overload
    def __get__(self, obj: None, owner: Any) -> "paginated[P, T]": ...

    @overload
    def __get__(self, obj: "Resource[SyncRunner]", owner: Any) -> "Callable[P, Iterator[T]]": ...

    @overload
    def __get__(
        self, obj: "Resource[AsyncRunner]", owner: Any
    ) -> "Callable[P, AsyncIterator[T]]": ...

    def __get__(self, obj: Optional[Resource[Any]], owner: Any) -> Any:
        if obj is None:
            return self
        fn = self._fn
        runner = obj._runner

        @functools.wraps(fn)
        def bound(*args: Any, **kwargs: Any) -> Union[Iterator[Any], AsyncIterator[Any]]:
            return runner.iterate(fn(obj, *args, **kwargs))

        return bound
