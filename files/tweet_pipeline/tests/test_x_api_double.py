"""The X API double on its own: rules in X's shapes, the scripted fault sequence, the token check,
its console script and its /_double/state."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3.exceptions import ProtocolError

from tests.conftest import sample_lines, wait_for
from tests.kafka_broker import free_port
from tweet_pipeline.x_api_double import Step, XApiDouble, fault_sequence, load_tweets
from tweet_pipeline.x_api_http import ERROR_401, ERROR_429, RULES_PATH, STREAM_PATH

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "AAAAdouble%2Btoken%3Dsecret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def shape(value: Any) -> Any:
    """The structure of a JSON value: dict keys and element shapes, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


class StreamReader:
    """One raw stream connection, read chunk by chunk (X sends one line or keep-alive each)."""

    def __init__(self, url: str) -> None:
        self.response = requests.get(
            url + STREAM_PATH + "?tweet.fields=id,text", headers=AUTH, stream=True, timeout=10
        )

    def lines(self) -> Iterator[bytes]:
        yield from self.response.raw.read_chunked(decode_content=False)

    def close(self) -> None:
        self.response.close()


def ids(lines: list[bytes]) -> list[str]:
    return [json.loads(line)["data"]["id"] for line in lines]


@pytest.fixture
def double() -> Iterator[XApiDouble]:
    tweets = load_tweets(sample_lines(9))
    with XApiDouble(
        tweets, fault_sequence(9, drop_after=3), rate=0, keepalive_s=0.2, token=TOKEN
    ) as api:
        yield api


def add_rule(api: XApiDouble, value: str = "kafka", tag: str = "k") -> dict[str, Any]:
    resp = requests.post(
        api.url + RULES_PATH, json={"add": [{"value": value, "tag": tag}]}, headers=AUTH, timeout=5
    )
    assert resp.status_code == 200
    return dict(resp.json())


def test_fault_sequence_drop_then_429_then_resume_without_repeats(double: XApiDouble) -> None:
    add_rule(double)
    expected = [json.loads(line)["id"] for line in sample_lines(9)]

    first = StreamReader(double.url)
    assert first.response.status_code == 200
    got: list[bytes] = []
    with pytest.raises(ProtocolError, match="ended prematurely"):  # no terminating chunk
        got.extend(first.lines())
    first.close()
    assert ids(got[:3]) == expected[:3]
    torn = got[3]
    assert not torn.endswith(b"\r\n") and expected[3].encode() in torn  # half of tweet 4
    with pytest.raises(json.JSONDecodeError):
        json.loads(torn)
    assert double.state()["delivered_ids"] == expected[:3]

    second = StreamReader(double.url)
    assert second.response.status_code == 429
    assert second.response.json() == ERROR_429 == payload("error_429.json")
    assert second.response.headers["x-rate-limit-remaining"] == "0"
    second.close()

    third = StreamReader(double.url)
    lines, keepalives = [], 0
    for line in third.lines():
        if line == b"\r\n":
            keepalives += 1
            if keepalives == 2:  # held open with keep-alives after the last tweet
                break
        else:
            lines.append(line)
    third.close()
    message = json.loads(lines[0])
    assert ids(lines) == expected[3:]  # resumes with the torn tweet, repeats none
    assert message["matching_rules"] == [{"id": message["matching_rules"][0]["id"], "tag": "k"}]

    state = double.state()
    assert state["delivered_ids"] == expected
    assert state["pending"] == 0
    assert state["connections"] == 3
    assert state["stream_statuses"] == [200, 429, 200]
    assert state["statuses"] == [200, 200, 429, 200]  # the rule POST, then the streams
    assert state["rules"] == [{"id": state["rules"][0]["id"], "value": "kafka", "tag": "k"}]


def test_tweets_flow_only_while_a_rule_is_set() -> None:
    tweets = load_tweets(sample_lines(2))
    with XApiDouble(tweets, [Step()], keepalive_s=0.1, token=TOKEN) as api:
        reader = StreamReader(api.url)
        stream = reader.lines()
        assert [next(stream), next(stream)] == [b"\r\n", b"\r\n"]
        assert api.state()["delivered_ids"] == []
        add_rule(api)
        line = next(line for line in stream if line != b"\r\n")
        reader.close()
    assert json.loads(line)["data"]["id"] == json.loads(sample_lines(1)[0])["id"]


def test_rules_endpoints_answer_in_x_shapes() -> None:
    recorded = payload("rules_get.json")["data"]
    with XApiDouble(load_tweets(sample_lines(1)), [Step()], rules=recorded, token=TOKEN) as api:
        url = api.url + RULES_PATH
        got = requests.get(url, headers=AUTH, timeout=5).json()
        assert shape(got) == shape(payload("rules_get.json"))
        assert got["data"] == recorded

        added = add_rule(api, "#python", "python")
        assert shape(added) == shape(payload("rules_add.json"))
        assert added["meta"]["summary"] == {
            "created": 1,
            "not_created": 0,
            "valid": 1,
            "invalid": 0,
        }

        dup = add_rule(api, "#python", "again")
        assert "data" not in dup and dup["errors"][0]["title"] == "DuplicateRule"
        assert dup["errors"][0]["id"] == added["data"][0]["id"]

        body = {"delete": {"ids": [recorded[1]["id"]]}}
        dry = requests.post(url + "?dry_run=true", json=body, headers=AUTH, timeout=5).json()
        assert dry["meta"]["summary"] == {"deleted": 1, "not_deleted": 0}
        assert len(api.rules.rules()) == 3  # a dry run changes nothing
        deleted = requests.post(url, json=body, headers=AUTH, timeout=5).json()
        assert shape(deleted) == shape(payload("rules_delete.json"))
        again = requests.post(url, json=body, headers=AUTH, timeout=5).json()
        assert again["meta"]["summary"] == {"deleted": 0, "not_deleted": 1}
        assert again["errors"][0]["value"] == recorded[1]["id"]

        bad = requests.post(url, data=b"{nope", headers=AUTH, timeout=5)
        assert bad.status_code == 400 and bad.json()["title"] == "Invalid Request"
        values = [r["value"] for r in api.state()["rules"]]
    assert values == ["kafka lang:en", "#python"]


def test_token_is_required_checked_and_never_logged(tmp_path: Path) -> None:
    token_file = tmp_path / "expected-token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    exe = Path(sys.executable).parent / "tweet-x-api-double"
    args = ["--port", str(port), "--count", "5", "--rate", "0", "--log-level", "DEBUG"]
    proc = subprocess.Popen(
        [str(exe), *args, "--expect-token-file", str(token_file)], stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), 30, "the double to listen")
        none = requests.get(url + RULES_PATH, timeout=5)
        wrong = requests.get(url + RULES_PATH, headers={"Authorization": "Bearer x"}, timeout=5)
        right = requests.get(url + RULES_PATH, headers=AUTH, timeout=5)
        state = requests.get(url + "/_double/state", timeout=5).json()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert none.status_code == wrong.status_code == 401
    assert wrong.json() == ERROR_401
    assert right.status_code == 200 and right.json()["meta"]["result_count"] == 0
    assert state["statuses"] == [401, 401, 200]
    assert set(state) >= {"rules", "delivered_ids", "connections", "statuses", "pending"}
    assert state["pending"] == 5
    log = err.decode()
    assert "GET /2/tweets/search/stream/rules -> 401" in log
    assert TOKEN not in log and "secret" not in log


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/_double/state", timeout=1).ok
    except requests.RequestException:
        return False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "--count must be between 1 and 1200"),
        (["--expect-token-file", "/nonexistent"], "No such file"),
    ],
)
def test_cli_rejects_bad_arguments(args: list[str], message: str) -> None:
    exe = Path(sys.executable).parent / "tweet-x-api-double"
    result = subprocess.run(
        [str(exe), "--port", "0", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2 and message in result.stderr
