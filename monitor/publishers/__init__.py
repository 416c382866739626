"""Status page providers: one module each, a plain dict registry, and what to publish.

A provider is one module (statuspage.py, instatus.py, cachet.py, log.py): its `SPEC` at the
top (spec.py says what each field means) and its provider class (base.py says what it offers
the delivery worker; client.py does the HTTP). `PROVIDERS` below is the only list of them: the
config reads it for [publisher], the daemon makes the provider from it, the delivery and
`monitor import` read the spec. Adding a provider is its module, one line here, and its tests.

Importing this package is cheap (no HTTP library), because the config imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from monitor.incidents import Target
from monitor.model import Component, PublisherSettings
from monitor.publishers import cachet, instatus, log, statuspage
from monitor.publishers.base import Provider, RateLimiter
from monitor.publishers.spec import ProviderSpec

PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec for spec in (statuspage.SPEC, cachet.SPEC, instatus.SPEC, log.SPEC)
}
NONE = "none"
"""`[publisher] type` for no publisher at all."""


def needs_key(settings: PublisherSettings) -> bool:
    """Whether the publisher the settings ask for needs its API key read."""
    spec = PROVIDERS.get(settings.type)
    return spec is not None and spec.needs_key


def make_provider(
    settings: PublisherSettings, api_key: str | None, config_path: Path, limiter: RateLimiter
) -> Provider | None:
    """The provider the config asks for; None for `none`. Raises ConfigError if unsupported, or
    if the provider cannot use the key or url it is given."""
    from monitor.config import ConfigError  # not at the top: the config imports this package

    if settings.type == NONE:
        return None
    spec = PROVIDERS.get(settings.type)
    if spec is None:
        raise ConfigError(
            config_path,
            [
                f"{config_path}: [publisher]: type: {settings.type!r} is not supported yet; "
                f"use one of {', '.join(sorted([*PROVIDERS, NONE]))}"
            ],
        )
    assert api_key is not None or not spec.needs_key
    try:
        return spec.make(settings, api_key or "", limiter)
    except ValueError as exc:  # a URL the provider cannot speak to, say
        raise ConfigError(config_path, [f"{config_path}: [publisher]: url: {exc}"]) from None


def publish_targets(components: Sequence[Component], publisher: str | None) -> dict[str, Target]:
    """The components to publish: those with a remote_id (every one for a provider that
    publishes to no page, like the log)."""
    if publisher is None:
        return {}
    spec = PROVIDERS.get(publisher)
    every = spec is not None and not spec.remote
    return {
        c.id: Target(c.id, c.shown_name, c.remote_id or c.id)
        for c in components
        if c.remote_id is not None or every
    }


__all__ = ["NONE", "PROVIDERS", "ProviderSpec", "make_provider", "needs_key", "publish_targets"]
