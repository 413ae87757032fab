"""A Flask backend that lets a browser app use the API without holding the key.

python examples/proxy_flask.py

``inferencesh.proxy.WSGIProxy`` is served at ``/api/inference/proxy`` next to the Flask app (the
same works for Django's WSGI application); the browser uses
``inference({ proxyUrl: "/api/inference/proxy" })`` (JS SDK). Here our own client plays the
browser with ``proxy_url=`` and no key.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from _env import api
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from inferencesh import inference
from inferencesh.proxy import PROXY_PATH, ProxyRequest, WSGIProxy


def signed_in(request: ProxyRequest) -> bool:
    """Your own session check goes here; the demo accepts one header value."""
    return request.headers.get("x-demo-user") == "ada"


def create_app(base_url: str, api_key: str) -> DispatcherMiddleware:
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return "the browser app"

    # The key defaults to INFERENCE_API_KEY; only base_url and *.inference.sh are reachable.
    proxy = WSGIProxy(api_key=api_key, base_url=base_url, authorize=signed_in)
    return DispatcherMiddleware(app, {PROXY_PATH: proxy})  # serve this: gunicorn module:app


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    with api() as (base_url, key):
        server = make_server("127.0.0.1", 0, create_app(base_url, key), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        proxy_url = f"http://127.0.0.1:{server.server_port}{PROXY_PATH}"
        user = {"x-demo-user": "ada"}
        try:
            with inference(proxy_url=proxy_url, base_url=base_url, headers=user) as client:
                result = client.tasks.run({"app": "infsh/echo", "input": {"text": "via flask"}})
                print(f"run: {result['output']}")

                # Uploads go through the proxy too when the API serves them (as this one does).
                record = client.files.upload(Path(__file__))
                print(f"upload: {record.filename} {record.size == Path(__file__).stat().st_size}")

                with client.session("infsh/counter", input={"by": 2}) as session:
                    again = session.call("run", {"by": 5})
                    print(f"session: count={again['output']['count']}")
        finally:
            server.shutdown()
            thread.join()


if __name__ == "__main__":
    main()
