"""Where Hall finds its key, registry, namespace and env."""

from __future__ import annotations

import pytest

from hall_registry import AsyncHall, ConfigurationError, Hall, HallError
from hall_registry._config import DEFAULT_REGISTRY, ClientConfig
from mock_registry import KEY


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYHALL_API_KEY", "phk_from_environment")
    monkeypatch.setenv("PYHALL_REGISTRY", "http://env.example")
    config = ClientConfig.resolve("phk_argument", "http://arg.example/")
    assert config.api_key == "phk_argument"
    assert config.registry == "http://arg.example"


def test_registry_order_is_registry_then_registry_url_then_local_default() -> None:
    both = {"PYHALL_API_KEY": KEY, "PYHALL_REGISTRY": "http://a.example", "PYHALL_REGISTRY_URL": "http://b.example"}
    assert ClientConfig.resolve(environ=both).registry == "http://a.example"
    only_url = {"PYHALL_API_KEY": KEY, "PYHALL_REGISTRY_URL": "http://b.example"}
    assert ClientConfig.resolve(environ=only_url).registry == "http://b.example"
    assert ClientConfig.resolve(environ={"PYHALL_API_KEY": KEY}).registry == DEFAULT_REGISTRY == "http://127.0.0.1:8765"


def test_an_empty_variable_counts_as_unset() -> None:
    environ = {"PYHALL_API_KEY": KEY, "PYHALL_REGISTRY": "  ", "PYHALL_REGISTRY_URL": "http://b.example"}
    assert ClientConfig.resolve(environ=environ).registry == "http://b.example"


def test_namespace_and_env_defaults() -> None:
    config = ClientConfig.resolve(environ={"PYHALL_API_KEY": KEY})
    assert config.namespace is None and config.env == "dev"
    environ = {"PYHALL_API_KEY": KEY, "PYHALL_NAMESPACE": "x.myorg", "PYHALL_ENV": "prod"}
    config = ClientConfig.resolve(environ=environ)
    assert config.namespace == "x.myorg" and config.env == "prod"


@pytest.mark.parametrize("client", [Hall, AsyncHall])
def test_a_missing_key_fails_at_construction_and_says_how_to_fix_it(client: type) -> None:
    with pytest.raises(ConfigurationError) as raised:
        client()
    assert "PYHALL_API_KEY" in str(raised.value)
    assert isinstance(raised.value, HallError)


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYHALL_API_KEY", KEY)
    monkeypatch.setenv("PYHALL_REGISTRY_URL", "http://from-env.example:9000/")
    with Hall() as hall:
        assert hall.registry == "http://from-env.example:9000"
        assert hall.config.api_key == KEY


def test_a_registry_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        Hall(KEY, "registry.example")
