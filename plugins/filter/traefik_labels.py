# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker labels through which a container opts in to Traefik (the traefik role's contract)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: traefik_labels
short_description: Docker labels that route a host name to a container through Traefik
version_added: 0.1.0
description:
  - Builds the labels of the C(digitribe.cariflex.traefik) role's contract, so that the roles of
    the services behind Traefik (flexmeasures, grafana) never write Traefik labels by hand.
  - The router and service are named after the input; the router answers on the HTTPS entrypoint
    for the given host names, with a certificate from the ACME resolver, and sends requests to
    O(port) of the container over the Traefik network.
  - The security-headers middleware is not listed here, because the traefik role applies it to
    every router of the HTTPS entrypoint. O(middlewares) adds others, in order.
  - Every value is checked; a bad one fails the task with the name of the argument.
positional: _input
options:
  _input:
    description: Router and service name; lowercase letters, digits and dashes (C(flexmeasures)).
    type: str
    required: true
  host:
    description: Host name, or list of host names, the router answers for.
    type: raw
    required: true
  port:
    description: The port the container listens on (inside the container).
    type: int
    required: true
  middlewares:
    description: Further Traefik middlewares, such as C(my-auth@file), applied in this order.
    type: list
    elements: str
    default: []
  path_prefix:
    description: Only route requests under this path (e.g. C(/api)); empty routes every path.
    type: str
    default: ""
  network:
    description: The Docker network Traefik reaches the container on (C(traefik_network)).
    type: str
    default: traefik-public
  entrypoint:
    description: Traefik's HTTPS entrypoint (C(traefik_entrypoint_https)).
    type: str
    default: websecure
  certresolver:
    description: Traefik's ACME resolver (C(traefik_acme_resolver)).
    type: str
    default: letsencrypt
"""

EXAMPLES = r"""
- name: Run FlexMeasures behind Traefik
  community.docker.docker_container:
    name: flexmeasures-server
    image: "{{ flexmeasures_image }}"
    networks:
      - name: "{{ flexmeasures_traefik_network }}"
    labels: >-
      {{ 'flexmeasures' | digitribe.cariflex.traefik_labels(
           host=flexmeasures_host, port=5000, network=flexmeasures_traefik_network) }}
"""

RETURN = r"""
_value:
  description: Docker labels, names to string values.
  type: dict
  sample:
    traefik.enable: "true"
    traefik.docker.network: traefik-public
    traefik.http.routers.flexmeasures.rule: Host(`cariflex.digitribe.fr`)
    traefik.http.routers.flexmeasures.entrypoints: websecure
    traefik.http.routers.flexmeasures.tls: "true"
    traefik.http.routers.flexmeasures.tls.certresolver: letsencrypt
    traefik.http.routers.flexmeasures.service: flexmeasures
    traefik.http.services.flexmeasures.loadbalancer.server.port: "5000"
"""

_ROUTER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_MIDDLEWARE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:@[a-z]+)?")
_TRAEFIK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_DOCKER_NETWORK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PATH_PREFIX = re.compile(r"/[A-Za-z0-9._~/-]*")


def is_host_name(value: object) -> bool:
    """A fully qualified DNS name in lowercase (at least two labels, no trailing dot)."""
    if not isinstance(value, str) or len(value) > 253:
        return False
    labels = value.split(".")
    return len(labels) >= 2 and all(_DNS_LABEL.fullmatch(label) for label in labels)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise AnsibleFilterError(f"traefik_labels: {message}")


def traefik_labels(
    name: str,
    host: str | list[str] | None = None,
    port: int | str | None = None,
    middlewares: list[str] | None = None,
    path_prefix: str = "",
    network: str = "traefik-public",
    entrypoint: str = "websecure",
    certresolver: str = "letsencrypt",
) -> dict[str, str]:
    """Return the labels that route `host` (HTTPS, ACME certificate) to `port` of a container."""
    _check(
        isinstance(name, str) and _ROUTER_NAME.fullmatch(name) is not None,
        f"the router name {name!r} must be lowercase letters, digits and dashes",
    )
    hosts = [host] if isinstance(host, str) else list(host or [])
    _check(len(hosts) > 0, f"host is required for router {name!r}")
    for each in hosts:
        _check(
            is_host_name(each),
            f"host {each!r} of router {name!r} is not a lowercase DNS name such as "
            "cariflex.digitribe.fr",
        )
    try:
        port_number = int(str(port))
    except ValueError:
        port_number = 0
    _check(
        not isinstance(port, bool) and 1 <= port_number <= 65535,
        f"port {port!r} of router {name!r} must be a number from 1 to 65535",
    )
    extra = list(middlewares or [])
    for middleware in extra:
        _check(
            isinstance(middleware, str) and _MIDDLEWARE.fullmatch(middleware) is not None,
            f"middleware {middleware!r} of router {name!r} is not a Traefik middleware name "
            "such as my-auth or my-auth@file",
        )
    _check(
        path_prefix == "" or _PATH_PREFIX.fullmatch(path_prefix) is not None,
        f"path_prefix {path_prefix!r} of router {name!r} must start with / and hold no quotes",
    )
    _check(
        isinstance(network, str) and _DOCKER_NETWORK.fullmatch(network) is not None,
        f"network {network!r} is not a Docker network name",
    )
    for argument, value in (("entrypoint", entrypoint), ("certresolver", certresolver)):
        _check(
            isinstance(value, str) and _TRAEFIK_NAME.fullmatch(value) is not None,
            f"{argument} {value!r} is not a Traefik name",
        )

    rule = " || ".join(f"Host(`{each}`)" for each in hosts)
    if len(hosts) > 1 and path_prefix:
        rule = f"({rule})"
    if path_prefix:
        rule = f"{rule} && PathPrefix(`{path_prefix}`)"
    router = f"traefik.http.routers.{name}"
    labels = {
        "traefik.enable": "true",
        "traefik.docker.network": network,
        f"{router}.rule": rule,
        f"{router}.entrypoints": entrypoint,
        f"{router}.tls": "true",
        f"{router}.tls.certresolver": certresolver,
        f"{router}.service": name,
        f"traefik.http.services.{name}.loadbalancer.server.port": str(port_number),
    }
    if extra:
        labels[f"{router}.middlewares"] = ",".join(extra)
    return labels


class FilterModule:
    """Traefik label filters."""

    def filters(self) -> dict[str, object]:
        return {"traefik_labels": traefik_labels}
