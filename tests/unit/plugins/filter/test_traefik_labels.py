"""Unit tests of the digitribe.cariflex.traefik_labels filter: the traefik role's label contract."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

# Loaded from its file, so the tests need neither an installed collection nor the .cache link.
_PLUGIN = Path(__file__).resolve().parents[4] / "plugins" / "filter" / "traefik_labels.py"
_spec = importlib.util.spec_from_file_location("traefik_labels", _PLUGIN)
assert _spec is not None and _spec.loader is not None
plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin)
traefik_labels = plugin.traefik_labels


def test_flexmeasures_labels_are_the_documented_contract() -> None:
    assert traefik_labels("flexmeasures", host="cariflex.digitribe.fr", port=5000) == {
        "traefik.enable": "true",
        "traefik.docker.network": "traefik-public",
        "traefik.http.routers.flexmeasures.rule": "Host(`cariflex.digitribe.fr`)",
        "traefik.http.routers.flexmeasures.entrypoints": "websecure",
        "traefik.http.routers.flexmeasures.tls": "true",
        "traefik.http.routers.flexmeasures.tls.certresolver": "letsencrypt",
        "traefik.http.routers.flexmeasures.service": "flexmeasures",
        "traefik.http.services.flexmeasures.loadbalancer.server.port": "5000",
    }


def test_every_value_is_a_string_as_docker_labels_must_be() -> None:
    labels = traefik_labels("grafana", host="grafana.digitribe.fr", port="3000")
    assert all(isinstance(value, str) for value in labels.values())
    assert labels["traefik.http.services.grafana.loadbalancer.server.port"] == "3000"


def test_settings_of_the_traefik_role_are_passed_through() -> None:
    labels = traefik_labels(
        "grafana",
        host=["grafana.digitribe.fr", "stats.digitribe.fr"],
        port=3000,
        middlewares=["grafana-auth@file", "compress"],
        network="edge",
        entrypoint="https",
        certresolver="staging",
    )
    assert labels["traefik.docker.network"] == "edge"
    assert labels["traefik.http.routers.grafana.entrypoints"] == "https"
    assert labels["traefik.http.routers.grafana.tls.certresolver"] == "staging"
    assert labels["traefik.http.routers.grafana.middlewares"] == "grafana-auth@file,compress"
    assert (
        labels["traefik.http.routers.grafana.rule"]
        == "Host(`grafana.digitribe.fr`) || Host(`stats.digitribe.fr`)"
    )


def test_no_middlewares_label_without_extra_middlewares() -> None:
    labels = traefik_labels("app", host="app.example.org", port=80)
    assert not any(name.endswith(".middlewares") for name in labels)


def test_path_prefix_narrows_the_rule() -> None:
    labels = traefik_labels(
        "api", host=["a.example.org", "b.example.org"], port=80, path_prefix="/api"
    )
    assert (
        labels["traefik.http.routers.api.rule"]
        == "(Host(`a.example.org`) || Host(`b.example.org`)) && PathPrefix(`/api`)"
    )


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"name": "Flex_Measures", "host": "a.example.org", "port": 1}, "router name"),
        ({"name": "app", "host": "", "port": 80}, "host ''"),
        ({"name": "app", "host": None, "port": 80}, "host is required"),
        ({"name": "app", "host": "localhost", "port": 80}, "host 'localhost'"),
        ({"name": "app", "host": "bad_name.example.org", "port": 80}, "host 'bad_name"),
        ({"name": "app", "host": "Cariflex.Digitribe.fr", "port": 80}, "host 'Cariflex"),
        ({"name": "app", "host": "a.example.org`) || Host(`evil.org", "port": 80}, "host 'a"),
        ({"name": "app", "host": "-a.example.org", "port": 80}, "host '-a"),
        ({"name": "app", "host": "a.example.org", "port": 0}, "port 0"),
        ({"name": "app", "host": "a.example.org", "port": 70000}, "port 70000"),
        ({"name": "app", "host": "a.example.org", "port": "http"}, "port 'http'"),
        ({"name": "app", "host": "a.example.org", "port": True}, "port True"),
        ({"name": "app", "host": "a.example.org", "port": None}, "port None"),
        (
            {"name": "app", "host": "a.example.org", "port": 80, "middlewares": ["a,b"]},
            "middleware 'a,b'",
        ),
        (
            {"name": "app", "host": "a.example.org", "port": 80, "path_prefix": "api"},
            "path_prefix 'api'",
        ),
        (
            {"name": "app", "host": "a.example.org", "port": 80, "path_prefix": "/a`)"},
            "path_prefix",
        ),
        ({"name": "app", "host": "a.example.org", "port": 80, "network": ""}, "network ''"),
        (
            {"name": "app", "host": "a.example.org", "port": 80, "entrypoint": "web secure"},
            "entrypoint 'web secure'",
        ),
    ],
)
def test_bad_input_fails_naming_the_argument(kwargs: dict[str, object], named: str) -> None:
    name = kwargs.pop("name")
    with pytest.raises(AnsibleFilterError, match="traefik_labels: ") as error:
        traefik_labels(name, **kwargs)  # type: ignore[arg-type]
    assert named in str(error.value)


def test_the_filter_is_registered_under_its_documented_name() -> None:
    assert plugin.FilterModule().filters() == {"traefik_labels": traefik_labels}
