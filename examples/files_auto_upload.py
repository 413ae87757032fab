"""Automatic upload of task inputs: local files in ``input`` are uploaded before the run.

Uploaded: ``pathlib.Path`` objects, ``File`` objects, ``data:`` URIs, and strings that name an
existing file. Everything else is sent as it is; ``upload_files=False`` turns this off.

    python examples/files_auto_upload.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _env import api

from inferencesh import File, inference


def main() -> None:
    with (
        api() as (base_url, key),
        inference(api_key=key, base_url=base_url) as client,
        tempfile.TemporaryDirectory() as folder,
    ):
        path = Path(folder) / "poem.txt"
        path.write_text("roses are red\n")

        for label, value in (
            ("Path", path),
            ("str path", str(path)),
            ("File", File(path=str(path))),
            ("data URI", "data:text/plain,violets%20are%20blue"),
        ):
            result = client.tasks.run({"app": "infsh/file", "input": {"file": value}})
            output = result["output"]
            digest = output["sha256"][:12]
            print(f"{label}: uploaded, app returned {output['size']} bytes, sha256 {digest}")

        # With upload_files=False the string is sent as it is: echo shows it came back unchanged.
        echoed = client.tasks.run(
            {"app": "infsh/echo", "input": {"path": str(path)}}, upload_files=False
        )
        print(f"upload_files=False: sent as text={echoed['output']['path'] == str(path)}")


if __name__ == "__main__":
    main()
