"""Kubernetes API errors, translated once into what they mean for Overture.

    ApiError
    ├── TransientError  429, 5xx, connection errors: try again later
    ├── ConflictError    409 on update: our copy is stale; reconcile again from a fresh one
    └── RejectedError    400, 403, 404, 413, 422: the request itself is wrong (or too large); retrying will not help

A 409 on create means the object exists (done already, by us or a peer) and a 404 on delete
means it is gone: both are success and never raised.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"{status}: {message}")


class TransientError(ApiError):
    pass


class ConflictError(ApiError):
    pass


class RejectedError(ApiError):
    pass


def translate(status: int, message: str) -> ApiError:
    if status == 409:
        return ConflictError(status, message)
    if status in (400, 403, 404, 413, 422):
        return RejectedError(status, message)
    return TransientError(status, message)
