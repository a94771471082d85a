"""Send tweepy's requests for https://api.twitter.com to another base URL.

tweepy hard-codes ``https://api.twitter.com`` (rules endpoints and the stream). Rather than
re-implementing its client, `redirect` mounts a `requests` transport adapter on the client's
session for that prefix; the adapter rewrites each prepared request's URL to the configured base
(an API gateway, an egress proxy's endpoint, or the local X API double at ``http://host:port``)
just before it goes on the wire. tweepy's own code (auth header, parameters, stream parsing,
error handling) runs unchanged, and with the default base URL nothing is mounted at all.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from tweet_pipeline.config import X_API_BASE_URL

_PREFIX = X_API_BASE_URL + "/"


class ForwardAdapter(HTTPAdapter):
    """Rewrites ``https://api.twitter.com/<path>`` to ``<base_url>/<path>``."""

    def __init__(self, base_url: str, trust_env: bool = True) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.trust_env = trust_env

    def target(self, url: str) -> str:
        if not url.startswith(_PREFIX):
            return url
        return self.base_url + "/" + url[len(_PREFIX) :]

    def send(  # noqa: PLR0917 - HTTPAdapter.send's own signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        assert request.url is not None
        request.url = self.target(request.url)
        if self.trust_env:
            # The session chose proxies (and no_proxy exceptions) for api.twitter.com; choose
            # again for the real destination.
            proxies = dict(get_environ_proxies(request.url))
        return super().send(request, stream, timeout, verify, cert, proxies)


def redirect(session: requests.Session, base_url: str) -> None:
    """Route the session's api.twitter.com requests to `base_url` (no-op for X's own URL)."""
    if base_url.rstrip("/") == X_API_BASE_URL:
        return
    session.mount(_PREFIX, ForwardAdapter(base_url, trust_env=session.trust_env))
