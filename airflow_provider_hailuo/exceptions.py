"""One small exception hierarchy; every message says what is wrong and what to do about it."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_hailuo.gateway.resend import may_send_again


class HailuoError(AirflowException):
    """Base class of every error this provider raises."""

    # Whether the request this error stands for never left this machine (see resend.py).
    never_sent = False


class HailuoRequestNotSentError(HailuoError):
    """A request that could not be sent: a malformed URL or header, a certificate refused during
    the handshake. Nothing reached anyone, and sending it again fails the same way."""

    never_sent = True


class HailuoValidationError(HailuoError, ValueError):
    """A generation parameter breaks a documented rule; raised before any request is sent."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


class HailuoImageError(HailuoValidationError):
    """A frame image cannot be used: wrong format, too large, too small or wrong shape."""


class HailuoProtocolError(HailuoError):
    """The gateway answered with something this provider cannot read."""


class HailuoAPIError(HailuoError):
    """The gateway refused a request with an HTTP error that retrying will not fix."""

    def __init__(self, message: str, *, status_code: int | None = None, gateway_error: bool = False) -> None:
        super().__init__(message)
        # Not ``status_code``: AirflowException already uses that name for Airflow's own API.
        self.http_status = status_code
        # Whether the body was the gateway's own JSON error (not, say, a proxy's HTML page).
        self.gateway_error = gateway_error


class HailuoAuthenticationError(HailuoAPIError):
    """401: the API key is missing or invalid."""


class HailuoPermissionError(HailuoAPIError):
    """403: insufficient balance or permission denied."""


class HailuoNotFoundError(HailuoAPIError):
    """404: the gateway does not know the task (or the path is wrong for this gateway)."""


class HailuoTransientError(HailuoAPIError):
    """A fault worth retrying: 429, 5xx, a timeout or a dropped connection.

    ``never_sent``: the connection was never made, so nothing was sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        never_sent: bool = False,
        gateway_error: bool = False,
    ) -> None:
        self.retry_after = retry_after
        self.never_sent = never_sent
        super().__init__(message, status_code=status_code, gateway_error=gateway_error)

    @property
    def resubmit_safe(self) -> bool:
        """Whether a create that failed so may be sent again (the rule is :mod:`~.resend`'s)."""
        return may_send_again(self)


class HailuoRateLimitError(HailuoTransientError):
    """429: the gateway's rate limit was hit and retries ran out."""


class HailuoQuotaWaitExpiredError(HailuoError):
    """The gateway kept refusing a create for its quota until the operator's ``max_quota_wait``
    ran out; nothing was accepted, so an Airflow retry of the task may send it again."""


class HailuoAmbiguousSubmitError(HailuoError, AirflowFailException):
    """A create request failed in a way that leaves open whether the gateway created a task.

    It is never retried automatically, not by the hook and, being an ``AirflowFailException``,
    not by Airflow's task retries either: a second create could pay for the same video twice.
    """


class HailuoSpendLimitError(HailuoError, AirflowFailException):
    """A cost cap (``max_cost_usd``, ``max_run_cost_usd``) refused a video before anything was sent.

    Not retried by Airflow: a retry would meet the same cap. ``parameter`` names the cap.
    """

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


class HailuoTaskFailedError(HailuoError):
    """The gateway task ended as ``failed`` or ``cancelled``."""

    def __init__(
        self,
        message: str,
        *,
        hailuo_task_id: str,
        status: str,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        self.hailuo_task_id = hailuo_task_id
        self.status = status
        self.error_code = error_code
        self.error_message = error_message
        super().__init__(message)


class HailuoTimeoutError(HailuoError):
    """Waiting for a gateway task took longer than allowed; the task may still finish."""
