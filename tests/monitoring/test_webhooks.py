"""Webhook delivery against real receivers on loopback, and the SSRF rule."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from mloop.monitoring.webhooks import Refused, checked_target, deliver, refused_address
from tests.monitoring.receiver import receiver

BODY = {"id": "a1", "metric": "drift_share", "value": 0.4}


def test_a_receiver_that_fails_the_first_attempts_gets_the_alert_with_backoff() -> None:
    waits: list[float] = []
    seen: list[tuple[int, str]] = []
    with receiver(fail_first=2) as hook:
        delivery = deliver(
            hook.url,
            BODY,
            attempts=5,
            backoff_s=0.01,
            timeout_s=2,
            on_attempt=lambda d: seen.append((d.attempts, d.status)),
            sleep=lambda s: waits.append(s),
        )
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert hook.attempts == 3 and hook.bodies == [BODY]
    assert hook.headers[0]["Content-Type"] == "application/json"
    assert seen == [(1, "pending"), (2, "pending"), (3, "delivered")]
    assert waits == [0.01, 0.02]  # exponential back-off between attempts


def test_a_receiver_that_never_answers_is_given_up_on_after_the_attempts() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delivery = deliver(
        f"http://127.0.0.1:{port}/hook", BODY, attempts=3, backoff_s=0.001, timeout_s=1
    )
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error and "Connect" in delivery.last_error


def test_a_receiver_named_by_host_name_is_resolved_checked_and_called() -> None:
    with receiver() as hook:
        url = hook.url.replace("127.0.0.1", "localhost")
        delivery = deliver(url, BODY, attempts=1, backoff_s=0, timeout_s=2)
    assert delivery.status == "delivered"
    assert hook.headers[0]["Host"] == url.split("/")[2]  # the URL's host, not the address


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/",
        "http://0.0.0.0:8080/",
    ],
)
def test_link_local_and_metadata_addresses_are_refused_without_a_request(url: str) -> None:
    with pytest.raises(Refused):
        checked_target(url, allow_link_local=False)
    delivery = deliver(url, BODY, attempts=3, backoff_s=0, timeout_s=0.2)
    assert (delivery.status, delivery.attempts) == ("refused", 1)


def test_only_http_urls_are_called() -> None:
    with pytest.raises(Refused, match="not an http"):
        checked_target("file:///etc/passwd", allow_link_local=False)


def test_loopback_and_private_receivers_are_allowed() -> None:
    assert refused_address("relay", ipaddress.ip_address("10.0.0.7")) is None
    assert refused_address("localhost", ipaddress.ip_address("127.0.0.1")) is None
    target, host, address = checked_target("http://localhost:81/x?y=1", allow_link_local=False)
    assert address.is_loopback and host == "localhost:81"
    assert target.endswith(":81/x?y=1")
