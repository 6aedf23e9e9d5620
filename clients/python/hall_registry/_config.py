"""Where the client's settings come from: arguments first, then the environment.

The variable names and their order are the seed SDK's and ``hallctl``'s, so one
set of environment variables configures every PyHall tool against a
self-hosted registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

from .errors import ConfigurationError

#: Where a registry started with no configuration listens.
DEFAULT_REGISTRY = "http://127.0.0.1:8765"
#: The seed SDK's default environment tag for decisions.
DEFAULT_ENV = "dev"

API_KEY_VARIABLE = "PYHALL_API_KEY"
#: Checked in this order; the first one set wins.
REGISTRY_VARIABLES = ("PYHALL_REGISTRY", "PYHALL_REGISTRY_URL")
NAMESPACE_VARIABLE = "PYHALL_NAMESPACE"
ENV_VARIABLE = "PYHALL_ENV"


@dataclass(frozen=True)
class ClientConfig:
    """The resolved settings of one client. ``repr`` never shows the key."""

    api_key: str = field(repr=False)
    registry: str
    namespace: Optional[str]
    env: str

    @classmethod
    def resolve(
        cls,
        api_key: Optional[str] = None,
        registry: Optional[str] = None,
        *,
        namespace: Optional[str] = None,
        env: Optional[str] = None,
        environ: Optional[Mapping[str, str]] = None,
    ) -> "ClientConfig":
        """Fill what the caller left out from the environment.

        An empty variable counts as unset, so ``PYHALL_REGISTRY=`` in a
        ``.env`` file falls through to the next source instead of producing
        an unusable URL. A missing key raises :class:`ConfigurationError`
        here, so a service without credentials fails at start-up.
        """
        source = os.environ if environ is None else environ

        def first(*names: str) -> Optional[str]:
            for name in names:
                value = source.get(name, "").strip()
                if value:
                    return value
            return None

        key = api_key if api_key else first(API_KEY_VARIABLE)
        if not key:
            raise ConfigurationError(
                "no API key: pass Hall(api_key=...) or set PYHALL_API_KEY "
                "(create one with `hallctl key create` or POST /api/v1/api-keys)"
            )
        url = registry or first(*REGISTRY_VARIABLES) or DEFAULT_REGISTRY
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"registry URL {url!r} must start with http:// or https://"
            )
        return cls(
            api_key=key,
            registry=url.rstrip("/"),
            namespace=namespace or first(NAMESPACE_VARIABLE),
            env=env or first(ENV_VARIABLE) or DEFAULT_ENV,
        )
