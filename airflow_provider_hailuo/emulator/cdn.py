"""Signed, expiring video URLs shaped like MiniMax's object-storage (Aliyun OSS) download URLs.

docs/gateway-protocol.md: the real URLs look like
``https://<bucket>.<region>.aliyuncs.com/inference_output%2Fvideo%2F<date>%2F<uuid>%2Foutput.mp4
?Expires=<unix>&OSSAccessKeyId=...&Signature=...``. The emulator hands out the least convenient
plausible version of that, so a client that assumes more than the gateway promises fails a test:

- every video is called ``output.mp4``, so a file name taken from the URL collides across tasks;
- the key is one percent-encoded path segment, so a client that decodes or re-encodes the URL
  breaks the signature;
- the signature is base64 (``+``, ``/``, ``=``, percent-encoded in the query), as OSS's is;
- each poll of a completed task issues a fresh URL (new key, expiry and signature), so a client
  cannot recognise a video by its URL, and each URL expires: one kept for later stops working.

The secret is per :class:`VideoUrls`, i.e. per emulator, so no URL can be made up outside it.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

DOWNLOAD_PREFIX = "/cdn/"
ACCESS_KEY_ID = "emulator"
VIDEO_FILE_NAME = "output.mp4"


@dataclass(frozen=True)
class CdnError:
    """A refusal as object storage words it: the HTTP status, its error code and message."""

    status: int
    code: str
    message: str


MISSING_SIGNATURE = CdnError(403, "AccessDenied", "Anonymous access is forbidden for this operation.")
BAD_ACCESS_KEY = CdnError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist.")
BAD_EXPIRES = CdnError(403, "AccessDenied", "Invalid argument: Expires.")
BAD_SIGNATURE = CdnError(
    403,
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided.",
)
EXPIRED = CdnError(403, "AccessDenied", "Request has expired.")
NO_SUCH_KEY = CdnError(404, "NoSuchKey", "The specified key does not exist.")
# A signed URL is its own credential; object storage refuses a request that also carries an
# Authorization header (so a client sending the gateway's API key to the video's host fails here).
BOTH_CREDENTIALS = CdnError(
    400, "InvalidArgument", "Authorization header and query-string signature cannot both be given."
)


class VideoUrls:
    """The video URLs issued so far, each mapped back to its task, and the secret that signs them.

    ``Expires`` is whole Unix seconds, as in OSS URLs, rounded down: a URL lives at most the TTL it
    was issued with (a TTL of 0 issues URLs that are already expired). Expired URLs are forgotten
    as new ones are issued; that is safe because expiry is checked, from the signed ``Expires``,
    before the key is looked up, so a forgotten URL still answers "expired", not "no such key".
    """

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._tasks: dict[str, str] = {}
        self._expiries: list[tuple[int, str]] = []  # a heap: the next URL to expire first

    def _signature(self, key: str, expires: str) -> str:
        # OSS's V1 query-string signature: HMAC-SHA1 over the verb, expiry and resource, base64.
        to_sign = f"GET\n\n\n{expires}\n/{key}".encode()
        return base64.b64encode(hmac.new(self._secret, to_sign, hashlib.sha1).digest()).decode()

    def issue(
        self, base_url: str, task_id: str, rendered_on: datetime, ttl_seconds: float, now: float
    ) -> str:
        """A new URL for ``task_id``'s video, valid until ``now + ttl_seconds`` (Unix time)."""
        while self._expiries and self._expiries[0][0] <= now:
            del self._tasks[heapq.heappop(self._expiries)[1]]
        key = f"inference_output/video/{rendered_on:%Y%m%d}/{uuid.uuid4()}/{VIDEO_FILE_NAME}"
        expires = math.floor(now + ttl_seconds)
        self._tasks[key] = task_id
        heapq.heappush(self._expiries, (expires, key))
        query = urlencode(
            {
                "Expires": expires,
                "OSSAccessKeyId": ACCESS_KEY_ID,
                "Signature": self._signature(key, str(expires)),
            },
            quote_via=quote,
        )
        return f"{base_url}{DOWNLOAD_PREFIX}{quote(key, safe='')}?{query}"

    def resolve(
        self, key: str, expires: str | None, access_key_id: str | None, signature: str | None, now: float
    ) -> str | CdnError:
        """The task a download URL (its decoded key and query values) names, or why it is refused."""
        if expires is None or access_key_id is None or signature is None:
            return MISSING_SIGNATURE
        if access_key_id != ACCESS_KEY_ID:
            return BAD_ACCESS_KEY
        if not (expires.isascii() and expires.isdigit()):
            return BAD_EXPIRES
        expected = self._signature(key, expires).encode()  # as sent: "0017..." is not "17..."
        # Any str may arrive (the query is percent-decoded); what is not UTF-8 cannot match anyway.
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            return BAD_SIGNATURE
        if int(expires) <= now:
            return EXPIRED
        task_id = self._tasks.get(key)
        return NO_SUCH_KEY if task_id is None else task_id

    def clear(self) -> None:
        """Forget every URL issued (their tasks are gone); the secret stays."""
        self._tasks.clear()
        self._expiries.clear()
