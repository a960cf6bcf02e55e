"""Outbound HTTP to user-given URLs without reaching inside the network (SSRF guard).

A webhook URL is refused when its host resolves to a loopback, private, link-local or
otherwise non-global address, unless HONE_WEBHOOK_ALLOW_PRIVATE is set. The check is made
when the URL is saved and again on every delivery, and the connection goes to the address
that was checked (DNS is not asked twice, so a rebinding answer cannot slip past).
Redirects are never followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

RESPONSE_SNIPPET_BYTES = 500


class UnsafeUrl(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


# IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it: NAT64
# (RFC 6052, 64:ff9b::/96; local-use RFC 8215, 64:ff9b:1::/48) and SIIT (::ffff:0:0:0/96).
_EMBEDDING_IPV4 = tuple(
    ipaddress.ip_network(net) for net in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96")
)


def _ipv4_inside(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through a translator or a tunnel."""
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found += list(address.teredo)
    if any(address in net for net in _EMBEDDING_IPV4) or int(address) >> 32 == 0:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))  # also ::a.b.c.d (IPv4-compatible)
    return found


def is_public(ip: str) -> bool:
    """Whether ``ip``, and every IPv4 address it leads to (NAT64, 6to4, Teredo, IPv4-mapped or
    -compatible forms), is a public unicast address. Site-local (fec0::/10) is private."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local or any(address in net for net in _EMBEDDING_IPV4[1:2]):
            return False
        if not all(is_public(str(inner)) for inner in _ipv4_inside(address)):
            return False
    return address.is_global and not address.is_multicast


def resolve(url: str) -> Target:
    """Where ``url`` points, refusing what it must not reach. Raises UnsafeUrl."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("use an http:// or https:// URL")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("put no user name or password in the URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        raise UnsafeUrl(f"the host {parts.hostname!r} cannot be resolved ({exc})") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    if not settings.HONE_WEBHOOK_ALLOW_PRIVATE:
        inside = [ip for ip in addresses if not is_public(ip)]
        if inside:
            raise UnsafeUrl(
                f"{parts.hostname} resolves to {inside[0]}, a private, loopback or link-local address; "
                "webhooks go to public addresses only"
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, addresses)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> tuple[int, str]:
    """POST ``body`` to ``url`` at the checked address; (status, start of the response body)."""
    target = resolve(url)
    last_error: OSError | None = None
    for address in target.addresses:
        connection_class = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(target.host, target.port, timeout=timeout)

        def connect_to_checked_address(_where, timeout=timeout, source_address=None, _ip=address):
            return socket.create_connection((_ip, target.port), timeout, source_address)

        connection._create_connection = connect_to_checked_address  # TLS still verifies target.host
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            snippet = response.read(RESPONSE_SNIPPET_BYTES).decode("utf-8", "replace")
            return response.status, snippet
        except ConnectionRefusedError as exc:
            last_error = exc  # try the next address
        finally:
            connection.close()
    raise last_error or OSError("no address to connect to")
