"""`[serving]` settings and the canary split: pure functions, no server needed."""

from __future__ import annotations

import gc
import random
import socket
from pathlib import Path
from typing import Any

import pytest

from mloop.errors import InvalidInput
from mloop.serving.routing import ShadowGate, bucket, goes_to_canary
from mloop.serving.settings import MIB, load_serving_settings


def test_defaults_file_values_flags_and_per_endpoint_overrides() -> None:
    plain = load_serving_settings({})
    assert (plain.host, plain.port, plain.max_body_bytes) == ("127.0.0.1", 8000, 10 * MIB)
    assert plain.defaults.log_durability == "everysec" and plain.defaults.on_invalid == "reject"

    raw = {
        "serving": {
            "port": 9000,
            "queue": 8,
            "on_invalid": "reject",
            "endpoints": {"churn": {"on_invalid": "warn", "log_durability": "always"}},
        }
    }
    settings = load_serving_settings(raw, {"port": 0, "queue": 4, "max_rows": None})
    assert settings.port == 0  # the flag wins over the file
    assert settings.defaults.queue == 4
    churn = settings.for_endpoint("churn")
    assert (churn.on_invalid, churn.log_durability, churn.queue) == ("warn", "always", 4)
    assert settings.for_endpoint("other").on_invalid == "reject"


@pytest.mark.parametrize(
    ("raw", "flags", "says"),
    [
        (
            {"serving": {"port": 70000}},
            None,
            "[serving] port must be a whole number from 0 to 65535",
        ),
        ({"serving": {"log_durability": "sometimes"}}, None, "always, everysec, off"),
        ({"serving": {"timeout_s": 0}}, None, "[serving] timeout_s must be a number above 0"),
        ({"serving": {"qeue": 3}}, None, "has no setting 'qeue'"),
        ({"serving": {"endpoints": {"churn": {"port": 1}}}}, None, "[serving.endpoints.churn]"),
        ({"serving": "fast"}, None, "[serving] in mloop.toml must be a table"),
        ({}, {"on_invalid": "drop"}, "--on-invalid must be one of reject, warn"),
        ({}, {"max_rows": 0}, "--max-rows must be a whole number from 1"),
    ],
)
def test_a_bad_value_is_one_sentence(raw: dict, flags: dict | None, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_serving_settings(raw, flags)
    assert says in caught.value.message
    assert caught.value.message.count(". ") == 0 and caught.value.message.endswith(".")


def test_the_canary_split_follows_the_weight_and_sticks_to_a_key() -> None:
    rng = random.Random(1)
    share = sum(goes_to_canary(20, None, rng) for _ in range(20_000)) / 20_000
    assert abs(share - 0.20) < 0.02
    keyed = sum(goes_to_canary(20, f"customer-{i}", rng) for i in range(20_000)) / 20_000
    assert abs(keyed - 0.20) < 0.02
    # one key, one side, every time; and raising the weight never moves a key back to primary
    for i in range(500):
        key = f"customer-{i}"
        sides = {goes_to_canary(30, key, rng) for _ in range(5)}
        assert len(sides) == 1
        if goes_to_canary(30, key, rng):
            assert goes_to_canary(60, key, rng)
    assert bucket("a") == bucket("a") and not goes_to_canary(None, "a", rng)


def test_shadow_work_is_shed_first_when_the_endpoint_is_busy() -> None:
    gate = ShadowGate(limit=2)
    assert gate.admit(endpoint_in_flight=1, endpoint_queue=10)
    assert not gate.admit(endpoint_in_flight=6, endpoint_queue=10)  # primary busy: shed
    assert gate.admit(endpoint_in_flight=1, endpoint_queue=10)
    assert not gate.admit(endpoint_in_flight=1, endpoint_queue=10)  # shadow's own bound
    gate.done()
    assert gate.admit(endpoint_in_flight=1, endpoint_queue=10)
    assert gate.shed == 2


def test_mloop_serve_refuses_bad_settings_and_a_taken_port_in_one_sentence(cli: Any) -> None:
    result = cli("serve", "--queue", "0")
    assert result.exit_code == 2
    assert (
        "--queue must be a whole number from 1" in result.stderr
        and "Traceback" not in result.stderr
    )
    config = Path("mloop.toml")
    config.write_text(config.read_text() + '\n[serving]\nlog_durability = "sometimes"\n')
    result = cli("serve")
    assert result.exit_code == 2 and "[serving] log_durability must be one of" in result.stderr
    gc.collect()  # a store left open by a refusal warns here (psycopg), not in a later test
    config.write_text(config.read_text().replace('"sometimes"', '"always"'))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert result.exit_code == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
