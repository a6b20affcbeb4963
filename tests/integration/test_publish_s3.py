"""Publishing a run's report to S3 (moto's S3 server on loopback): the page, its journal and
the index land under the prefix with the content types a browser needs, and the printed
presigned link opens the page without credentials."""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from tests.plugin.test_plugin import CONFTEST, HEADER
from tests.report_journals import journal, result

from chaoskit.cli import main
from chaoskit.report import write_reports

pytestmark = pytest.mark.integration
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)  # boto3 sends every client there
    client = boto3.client("s3", region_name="eu-west-1", endpoint_url=url)
    client.create_bucket(
        Bucket="team-reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    try:
        yield client
    finally:
        server.stop()


def _objects(client: object, prefix: str) -> dict[str, str]:
    listed = client.list_objects_v2(Bucket="team-reports", Prefix=prefix)  # type: ignore[attr-defined]
    return {
        o["Key"]: client.head_object(Bucket="team-reports", Key=o["Key"])["ContentType"]  # type: ignore[attr-defined]
        for o in listed.get("Contents", [])
    }


def test_chaoskit_publish_uploads_the_run_and_prints_a_link_that_opens_it(
    s3: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = journal(result())
    write_reports(run, tmp_path)
    code = main(
        [
            "publish",
            "--dir",
            str(tmp_path),
            "--to",
            "s3://team-reports/game-days/",
            "--expires",
            "2h",
        ]
    )
    assert code == 0
    stem = f"chaoskit-{run.run_id}"
    assert _objects(s3, "game-days/") == {
        f"game-days/{stem}.html": "text/html; charset=utf-8",
        f"game-days/{stem}.json": "application/json",
        "game-days/index.html": "text/html; charset=utf-8",
    }
    out = capsys.readouterr().out
    [link] = re.findall(r"link \(expires in 2h\): (\S+)", out)
    assert "X-Amz-Expires=7200" in link
    # Anyone with the link reads the page: no credentials go with the request.
    with urllib.request.urlopen(link) as response:
        page = response.read().decode()
    assert page == (tmp_path / f"{stem}.html").read_text()
    journal_key = f"game-days/{stem}.json"
    body = s3.get_object(Bucket="team-reports", Key=journal_key)["Body"].read()  # type: ignore[attr-defined]
    assert json.loads(body)["run_id"] == run.run_id


def test_a_bad_destination_or_expiry_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_reports(journal(result()), tmp_path)
    assert main(["publish", "--dir", str(tmp_path), "--to", "team-reports/x"]) == 2
    assert "is not an S3 location; give s3://BUCKET" in capsys.readouterr().err
    assert main(["publish", "--dir", str(tmp_path), "--to", "s3://b", "--expires", "30d"]) == 2
    assert "lasts from 1 second to 7 days" in capsys.readouterr().err


def test_chaos_publish_publishes_at_the_end_of_the_run(
    s3: object, pytester: pytest.Pytester
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(locustfile="")
    pytester.makepyfile(
        test_experiment=HEADER
        + """
def test_latency(chaos):
    chaos.inject(faults.Latency(target="web", delay="10ms"), hold="5s")
"""
    )
    run = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--chaos-publish",
        "s3://team-reports/ci",
        "--chaos-publish-expiry",
        "1h",
    )
    run.assert_outcomes(passed=1)
    run.stdout.fnmatch_lines(["published: http*X-Amz-Expires=3600* (expires in 1h)"])
    keys = _objects(s3, "ci/")
    assert sorted(keys.values()) == [
        "application/json",
        "text/html; charset=utf-8",
        "text/html; charset=utf-8",
    ]


def test_a_bad_chaos_publish_stops_before_anything_runs(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_experiment=HEADER + "\ndef test_x(chaos):\n    pass\n")
    run = pytester.runpytest_subprocess("--chaos-publish", "https://example.com/reports")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["*'https://example.com/reports' is not an S3 location*"])
