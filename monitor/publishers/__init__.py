"""Status page providers: one module each, a plain dict registry, and what to publish."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.config import ConfigError
from monitor.incidents import Target
from monitor.model import Component, PublisherSettings
from monitor.publishers.base import Provider, RateLimiter
from monitor.publishers.cachet import CachetProvider, version_from_url
from monitor.publishers.instatus import InstatusProvider
from monitor.publishers.log import LogProvider
from monitor.publishers.statuspage import StatuspageProvider

Factory = Callable[[PublisherSettings, str, RateLimiter], Provider]


def _statuspage(settings: PublisherSettings, key: str, limiter: RateLimiter) -> Provider:
    assert settings.url is not None and settings.page_id is not None
    return StatuspageProvider(settings.url, settings.page_id, key, limiter)


def _cachet(settings: PublisherSettings, key: str, limiter: RateLimiter) -> Provider:
    assert settings.url is not None
    return CachetProvider(
        settings.url, settings.page_id, key, limiter, version=version_from_url(settings.url)
    )


def _instatus(settings: PublisherSettings, key: str, limiter: RateLimiter) -> Provider:
    assert settings.url is not None and settings.page_id is not None
    return InstatusProvider(settings.url, settings.page_id, key, limiter)


PROVIDERS: dict[str, Factory] = {
    "statuspage": _statuspage,
    "cachet": _cachet,
    "instatus": _instatus,
}


def make_provider(
    settings: PublisherSettings, api_key: str | None, config_path: Path, limiter: RateLimiter
) -> Provider | None:
    """The provider the config asks for; None for `none`. Raises ConfigError if unsupported."""
    if settings.type == "none":
        return None
    if settings.type == "log":
        return LogProvider()
    factory = PROVIDERS.get(settings.type)
    if factory is None:
        raise ConfigError(
            config_path,
            [
                f"{config_path}: [publisher]: type: {settings.type!r} is not supported yet; "
                f"use one of {', '.join(sorted([*PROVIDERS, 'log', 'none']))}"
            ],
        )
    assert api_key is not None
    try:
        return factory(settings, api_key, limiter)
    except ValueError as exc:  # a URL the provider cannot speak to, say
        raise ConfigError(config_path, [f"{config_path}: [publisher]: url: {exc}"]) from None


def publish_targets(components: Sequence[Component], publisher: str | None) -> dict[str, Target]:
    """The components to publish: those with a remote_id (every one for the log publisher)."""
    if publisher is None:
        return {}
    return {
        c.id: Target(c.id, c.name, c.remote_id or c.id)
        for c in components
        if c.remote_id is not None or publisher == "log"
    }
