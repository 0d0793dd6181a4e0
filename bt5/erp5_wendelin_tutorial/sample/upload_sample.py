"""Generate the sample recording and upload it into a running site's Data Stream Module.

Creates a new Data Stream with reference ``sample-tones.wav`` and PUTs the WAV into it,
streamed from disk (the tutorial uses the newest stream with that reference).
Settings come from the same variables as ``wendelin run``: WENDELIN_URL (default
http://127.0.0.1:8080/erp5 from WENDELIN_HOST/WENDELIN_PORT), WENDELIN_ADMIN_USER and
the generated admin password.

    python upload_sample.py [--seconds 180]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from generate_sample import write_sample  # noqa: E402

REFERENCE = "sample-tones.wav"


def site_settings() -> tuple[str, str, str]:
    """URL, user and password of the local site, as ``wendelin run`` configures it."""
    from Products.Wendelin.settings import Settings

    settings = Settings.from_environ(os.environ)
    port = settings.port or 8080
    url = os.environ.get("WENDELIN_URL") or f"http://{settings.host}:{port}/erp5"
    return url.rstrip("/"), settings.admin_user, settings.resolve_admin_password()


def upload(url: str, auth: tuple[str, str], path: str, reference: str = REFERENCE) -> str:
    """Create a Data Stream and stream the file into it; return its URL."""
    session = requests.Session()
    session.auth = auth
    created = session.post(
        f"{url}/data_stream_module/newContentFromJSON",
        json={
            "reference": reference,
            "title": "Tutorial sample: stereo tones",
            "content_type": "audio/wav",
        },
    )
    created.raise_for_status()
    stream_url = created.json()["url"]
    with open(path, "rb") as body:
        answer = session.put(
            stream_url, data=body, headers={"Content-Type": "application/octet-stream"}
        )
    answer.raise_for_status()
    return stream_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    url, user, password = site_settings()
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, REFERENCE)
        frames = write_sample(path, args.seconds)
        try:
            stream_url = upload(url, (user, password), path)
        except requests.RequestException as error:
            sys.exit(f"upload to {url} failed ({error}); is `make run` serving the site?")
    print(f"uploaded {frames} frames to {stream_url}")


if __name__ == "__main__":
    main()
