"""File upload: a path, bytes or a data: URI; use the returned uri in a task's input.

python examples/files_upload.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
from _env import api

from inferencesh import UploadFileOptions, inference


def main() -> None:
    with api() as (base_url, key), inference(api_key=key, base_url=base_url) as client:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "notes.txt"
            path.write_text("uploaded from a path\n")

            def report(sent: int, total: int | None) -> None:
                print(f"path: sent {sent} of {total} bytes")

            from_path = client.files.upload(path, progress=report)
            print(f"path: {from_path.filename} -> {from_path.uri}")

        from_bytes = client.files.upload(
            b"uploaded from bytes\n",
            UploadFileOptions(filename="bytes.txt", content_type="text/plain"),
        )
        print(f"bytes: {from_bytes.filename} ({from_bytes.size} bytes)")
        from_data_uri = client.files.upload("data:text/plain;base64,ZnJvbSBhIGRhdGEgVVJJCg==")
        print(f"data uri: {from_data_uri.filename} {from_data_uri.content_type}")

        # The uri goes into any file input; infsh/file returns the text upper-cased, as a file.
        result = client.tasks.run({"app": "infsh/file", "input": {"file": from_bytes.uri}})
        output = result["output"]
        # Output files are plain URLs: fetch them without the API key.
        content = httpx.get(output["file"]["uri"]).text
        print(f"output file: {output['file']['filename']} says {content.strip()!r}")


if __name__ == "__main__":
    main()
