"""Teacher backends behind one interface (:class:`Backend`); heavy ones are imported only when chosen."""

from adekd.teacher.backends.base import (
    Backend,
    BackendError,
    ChatRequest,
    Generation,
    RequestError,
    TransientError,
)

__all__ = ["Backend", "BackendError", "ChatRequest", "Generation", "RequestError", "TransientError"]
