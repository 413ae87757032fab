"""The official JS SDK (``@inferencesh/sdk`` from npm, with ``proxyUrl`` and no key) drives both
proxies in front of the local runtime. Skipped, with the reason, without node and npm or when
the registry cannot be reached."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from inferencesh.local import LocalRuntime

from .conftest import PROXY_KEY

SDK = "@inferencesh/sdk@0.6"
# npm and node normally finish in seconds; these only bound a hung process.
INSTALL_GUARD_SECONDS = 600
RUN_GUARD_SECONDS = 180

# The package's ESM build imports its own files without extensions (it is meant for bundlers):
# this resolve hook tries ".js" and "/index.js" for relative imports Node cannot find.
RESOLVE_HOOK = """
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    if (!specifier.startsWith('.')) throw error;
    for (const suffix of ['.js', '/index.js']) {
      try {
        return await next(specifier + suffix, context);
      } catch {}
    }
    throw error;
  }
}
"""
REGISTER = "import { register } from 'node:module';\nregister('./resolve.mjs', import.meta.url);\n"

SCRIPT = r"""
import { inference, string, tool } from '@inferencesh/sdk';

const [proxyUrl, baseUrl] = process.argv.slice(2);
const client = inference({ proxyUrl, baseUrl });
const out = {};

const echoed = await client.run({ app: 'infsh/echo', input: { from: 'js' } });
out.run = echoed.output;

const statuses = [];
const streamed = await client.run(
  { app: 'infsh/stream', input: { text: 'x y z', delay: 0.05 } },
  { onUpdate: (update) => statuses.push(update.status) },
);
out.stream = streamed.output;
out.updates = statuses.length;

const file = await client.uploadFile(new Blob(['from the browser side']), { filename: 'js.txt' });
const upper = await client.run({ app: 'infsh/file', input: { file: file.uri } });
out.upload = upper.output.size;

// A client tool: the turn waits for its result, which the SDK gets from the proxied chat stream.
const weather = tool('get_weather').describe('Weather').param('city', string('City')).build();
const config = { name: 'js', core_app: { ref: 'infsh/scripted-llm' }, tools: [weather] };
const agent = client.agent(config);
let reply = '';
await agent.sendMessage('call get_weather {"city": "Oslo"}\nwarm?', {
  onToolCall: (call) => {
    const result = JSON.stringify({ city: call.args.city, sky: 'grey' });
    agent.submitToolResult(call.id, result);
  },
  onMessage: (message) => {
    if (message.role === 'assistant') {
      reply = (message.content ?? []).map((part) => part.text ?? '').join('');
    }
  },
});
out.agent = reply;
agent.disconnect();

console.log(JSON.stringify(out));
process.exit(0);
"""


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to drive the proxy with the JS SDK")
    folder = tmp_path_factory.mktemp("js-sdk")
    (folder / "package.json").write_text('{"private": true, "type": "module"}')
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", SDK],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=INSTALL_GUARD_SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {SDK} did not finish (is the registry reachable?)")
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"npm could not install {SDK}: {reason}")
    (folder / "resolve.mjs").write_text(RESOLVE_HOOK)
    (folder / "register.mjs").write_text(REGISTER)
    (folder / "drive.mjs").write_text(SCRIPT)
    return folder


def test_the_js_sdk_runs_streams_uploads_and_chats_through_the_proxy(
    sdk_dir: Path, proxy_url: str, runtime: LocalRuntime
) -> None:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "--import", "./register.mjs", "drive.mjs", proxy_url, runtime.base_url],
        cwd=sdk_dir,
        capture_output=True,
        text=True,
        timeout=RUN_GUARD_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["run"] == {"from": "js"}
    assert out["stream"]["response"] == "x y z" and out["updates"] >= 2
    assert out["upload"] == len("from the browser side")
    assert out["agent"] == 'get_weather returned {"city":"Oslo","sky":"grey"}. You said: warm?'
    assert PROXY_KEY not in done.stdout + done.stderr
