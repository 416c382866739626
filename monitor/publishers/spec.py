"""What the rest of the monitor knows of a status page provider: its `ProviderSpec`.

Each provider module (statuspage.py, instatus.py, cachet.py, log.py) declares its `SPEC` at the
top, and the registry in `monitor.publishers` lists them. The config reads a spec to check
[publisher] (the type, the url, page_id, the key), the daemon to make the provider and read its
key, the delivery to know whether the provider logs what it does itself, and `monitor import` to
read a page's components. Nothing else names a provider.

The config imports the specs, so a provider module must stay cheap to import: no HTTP library
at import time (client.py brings aiohttp with the first ApiClient, when a provider is made).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from monitor.model import PublisherSettings

if TYPE_CHECKING:
    from monitor.publishers.base import Provider, RateLimiter

Factory = Callable[[PublisherSettings, str, "RateLimiter"], "Provider"]


def any_url(url: str) -> str | None:
    """The url check of a provider that speaks to whatever API base it is given."""
    return None


class ProviderSpec(NamedTuple):
    """One provider, as the config, the daemon, the delivery and `monitor import` see it.

    (A NamedTuple rather than a dataclass: the config imports every spec, and a frozen
    dataclass costs `monitor validate` a millisecond to build.)"""

    name: str
    """`[publisher] type`, the `publisher` label of the metrics, the outbox's publisher."""
    title: str
    """How its vendor writes it, for messages: "Statuspage"."""
    make: Factory
    """The provider for checked settings, the API key ("" when it needs none) and the shared
    limiter. Raises ValueError for a key or url it cannot use."""
    default_url: str | None = None
    """The API base when [publisher] sets no `url`."""
    url_required: str | None = None
    """Without a default: `url` is required, and this says what it is (after "required for
    NAME: ")."""
    check_url: Callable[[str], str | None] = any_url
    """What is wrong with a `url` for this provider ("must be ..."; the config adds the value),
    or None."""
    page_id: bool = False
    """`page_id` is required."""
    needs_key: bool = True
    """An API key is required (api_key_env or api_key_file), read at start and reload."""
    remote: bool = True
    """False: it publishes to no page. Every component is published (remote_id or not), and
    the provider logs what it does itself, so the delivery does not log it again."""
    can_import: bool = True
    """`monitor import NAME` reads the page's components with the provider's `components()`."""

    def requirements(self) -> str:
        """What [publisher] needs besides the type, for messages: "with page_id and an API key"."""
        needs = ["page_id"] * self.page_id + ["url"] * (self.url_required is not None)
        needs += ["an API key"] * self.needs_key
        return f"with {' and '.join(needs)}" if needs else "with nothing else"


__all__ = ["Factory", "ProviderSpec", "any_url"]
