"""Webhook delivery: an alert POSTed as JSON, retried with exponential back-off, never to the
cloud's metadata service.

A webhook URL comes from a config file that an attacker may be able to write (a shared repo, a
pull request), and the host that receives the POST is reached from inside the network the monitor
runs in. Link-local addresses (169.254.0.0/16, fe80::/10) and the metadata endpoints of the big
clouds (169.254.169.254, fd00:ec2::254, 100.100.100.200, metadata.google.internal …) hand out
credentials to any local caller, so they are refused unless ``allow_link_local_webhooks`` says
otherwise (the class of SSRF fixed in MLflow as CVE-2026-2393). The host name is resolved once,
every address it resolves to is checked, and the request goes to the checked address (the Host
header and TLS name stay the URL's), so a DNS answer that changes between check and connect
(rebinding) cannot slip through. Redirects are not followed; proxies from the environment are
not used (they would connect on our behalf to a host we never checked).

Loopback and private (RFC 1918) addresses are allowed: an in-cluster relay is a normal receiver.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.tencentyun.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wireserver
        "192.0.0.192",  # Oracle Cloud
    )
)
MAX_DELAY_S = 8.0
RETRY_STATUSES = frozenset({408, 425, 429})


def refused_address(host: str, address: IPAddress | None) -> str | None:
    """Why ``host`` (resolved to ``address``) may not receive a webhook, or None when it may."""
    if host.rstrip(".").lower() in METADATA_HOSTS:
        return f"the cloud metadata service ({host})"
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return f"a cloud metadata address ({address})"
    if address.is_link_local:
        return f"a link-local address ({address})"
    if address.is_unspecified or address.is_multicast:
        return f"an address no receiver listens on ({address})"
    return None


@dataclass
class Delivery:
    """One alert to one URL: how many attempts it took and how it ended."""

    url: str
    attempts: int = 0
    status: str = "pending"  # pending | delivered | failed | refused
    last_error: str | None = None
    last_attempt_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "attempts": self.attempts, "status": self.status}


class Refused(Exception):
    """The URL may not be called (scheme, or an address the SSRF rule refuses)."""


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {host} ({exc.strerror})") from exc
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


def checked_target(url: str, *, allow_link_local: bool) -> tuple[str, str, IPAddress]:
    """The URL rewritten to one checked address, the Host header, and that address.

    Raises ``Refused`` for a scheme other than http(s) or any address the rule refuses,
    ``ConnectionError`` when the name does not resolve.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not allow_link_local and (reason := refused_address(host, None)):
        raise Refused(f"{host} is {reason}")
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = _resolve(host, port)
    if not allow_link_local:
        for address in addresses:
            reason = refused_address(host, address)
            if reason:
                raise Refused(f"{host} resolves to {reason}")
    chosen = addresses[0]
    literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{literal}:{port}"
    header = parts.netloc.rpartition("@")[2]  # never forward user:password@ as part of Host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), header, chosen


def deliver(
    url: str,
    body: dict[str, Any],
    *,
    attempts: int,
    backoff_s: float,
    timeout_s: float,
    allow_link_local: bool = False,
    on_attempt: Callable[[Delivery], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST ``body`` as JSON to ``url`` until a 2xx, at most ``attempts`` times.

    Waits ``backoff_s``, then twice that, … (at most ``MAX_DELAY_S``) between attempts while the
    receiver is down (connection refused, a timeout, a 5xx, 408/425/429); another 4xx is final.
    ``on_attempt`` sees the delivery after each attempt, so its status can be recorded as it moves.
    """
    import httpx  # only a run that raised an alert pays for it

    delivery = Delivery(url)
    payload = orjson.dumps(body)
    parts = urlsplit(url)
    with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
        for attempt in range(1, attempts + 1):
            delivery.attempts = attempt
            delivery.last_attempt_at = dt.datetime.now(dt.UTC)
            retry = True
            try:
                target, host, _ = checked_target(url, allow_link_local=allow_link_local)
                extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
                response = client.post(
                    target,
                    content=payload,
                    headers={
                        "Host": host,
                        "Content-Type": "application/json",
                        "User-Agent": "mloop-monitor",
                    },
                    extensions=extensions,
                )
                if 200 <= response.status_code < 300:
                    delivery.status = "delivered"
                    delivery.last_error = None
                    delivery.delivered_at = dt.datetime.now(dt.UTC)
                else:
                    delivery.last_error = f"HTTP {response.status_code}"
                    retry = response.status_code >= 500 or response.status_code in RETRY_STATUSES
            except Refused as exc:
                delivery.status = "refused"
                delivery.last_error = str(exc)
                retry = False
            except (httpx.HTTPError, ConnectionError, OSError) as exc:
                delivery.last_error = (
                    f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                )
            final = delivery.status in ("delivered", "refused") or not retry or attempt == attempts
            if final and delivery.status == "pending":
                delivery.status = "failed"
            if on_attempt is not None:
                on_attempt(delivery)
            if final:
                return delivery
            sleep(min(backoff_s * 2 ** (attempt - 1), MAX_DELAY_S))
    return delivery
