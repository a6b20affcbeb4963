"""Publishing a run's report to S3: its HTML page, its JSON journal and the index, each with
the content type a browser needs to open it, and a presigned link to the page that works
without AWS credentials until it expires.

``--chaos-publish s3://bucket/prefix`` publishes at the end of a run, ``chaoskit publish``
afterwards. The page itself stays one offline file: publishing copies it, nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.config import Config

from chaoskit.errors import ConfigError
from chaoskit.providers.aws.clients import AwsClients

if TYPE_CHECKING:
    pass

# SigV4 presigned URLs live at most 7 days.
MAX_EXPIRY_S = 7 * 24 * 3600
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
}
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True, kw_only=True)
class S3Destination:
    bucket: str
    prefix: str  # "" or "a/b/", always ending in "/" when set

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


@dataclass(frozen=True, kw_only=True)
class Published:
    bucket: str
    keys: tuple[str, ...]  # every object written, in the order given
    link: str  # presigned GET of the run's page
    expires_s: int


def parse_destination(url: str) -> S3Destination:
    """``s3://bucket`` or ``s3://bucket/prefix``; a ConfigError naming the value otherwise."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not url.startswith("s3://") or not bucket:
        raise ConfigError(
            f"publish destination {url!r} is not an S3 location; give s3://BUCKET or "
            f"s3://BUCKET/PREFIX, for example s3://team-reports/chaoskit"
        )
    prefix = prefix.strip("/")
    return S3Destination(bucket=bucket, prefix=f"{prefix}/" if prefix else "")


def check_expiry(seconds: float) -> int:
    if not 1 <= seconds <= MAX_EXPIRY_S:
        raise ConfigError(
            f"the publish link's expiry of {seconds:g}s is out of range: a presigned S3 link "
            f"lasts from 1 second to 7 days; give a duration such as '24h' or '7d'"
        )
    return int(seconds)


def publish(
    files: Sequence[Path],
    url: str,
    *,
    page: Path,
    expires_s: float,
) -> Published:
    """Upload ``files`` under ``url`` (by their names), then presign ``page``, one of them."""
    destination = parse_destination(url)
    expiry = check_expiry(expires_s)
    if page not in files:
        raise ConfigError(f"the page to link, {page}, is not among the files to publish")
    clients = AwsClients(region=os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    keys = []
    for path in files:
        key = destination.key(path.name)
        clients.call(
            clients.s3.put_object,
            Bucket=destination.bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        )
        keys.append(key)
    # SigV4, whose links say when they expire (X-Amz-Expires) and work in every region.
    signer = clients.session.client(
        "s3",
        region_name=clients.region,
        endpoint_url=clients.endpoint_url,
        config=Config(signature_version="s3v4"),
    )
    link = signer.generate_presigned_url(
        "get_object",
        Params={"Bucket": destination.bucket, "Key": destination.key(page.name)},
        ExpiresIn=expiry,
    )
    return Published(bucket=destination.bucket, keys=tuple(keys), link=str(link), expires_s=expiry)
