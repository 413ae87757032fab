"""Apps as the API shows them: records built from a worker's description, secrets checked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from inferencesh._generated.models import AppDTO, AppVersionDTO, RequirementError
from inferencesh._runtime import CursorListResponse
from inferencesh.local._builtin import BUILTIN_APPS
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._errors import ApiError
from inferencesh.local._listing import list_query, page
from inferencesh.local._records import dump, header, stable_id
from inferencesh.local._registry import AppSpec, Registry, UnknownApp, version_id
from inferencesh.local._worker_pool import Worker, WorkerError, WorkerLimits

__all__ = ["Apps", "app_id", "version_id"]


def app_id(spec: AppSpec) -> str:
    """The id an app has on this runtime (stable across restarts)."""
    return stable_id("app_", spec.ref)


class Apps:
    """The apps of one runtime: lookup by ref or id, their schemas, their required secrets."""

    def __init__(self, registry: Registry, config: RuntimeConfig, limits: WorkerLimits) -> None:
        self.registry = registry
        self.config = config
        self.limits = limits
        self.describes: dict[str, dict[str, Any]] = {}

    def resolve(self, ref: str) -> tuple[AppSpec, str | None]:
        """The app and function a ref names; 404 naming the closest known refs otherwise."""
        try:
            return self.registry.resolve(ref)
        except UnknownApp as exc:
            extra = {"ref": ref, "closest": exc.closest}
            raise ApiError(404, "not_found", str(exc), extra=extra) from None

    def spec(self, ref: str) -> AppSpec:
        """The app for a ref; 404 when there is none."""
        return self.resolve(ref)[0]

    def default_function(self, spec: AppSpec) -> str:
        """The function a run without one calls, as far as the runtime knows it yet."""
        return str(self.describes.get(spec.key, {}).get("default_function") or "run")

    async def describe(self, spec: AppSpec) -> dict[str, Any]:
        """The app's schemas, from a worker (the runtime never imports app code itself)."""
        cached = self.describes.get(spec.key)
        if cached is not None:
            return cached
        worker = Worker(spec, "", self.limits)
        try:
            await worker.start(self.config.secrets)
        except WorkerError as exc:
            raise ApiError(422, "invalid_request", f"cannot load {spec.ref}: {exc}") from None
        finally:
            await worker.stop()
        self.describes[spec.key] = worker.describe
        return worker.describe

    def _dto(self, spec: AppSpec, describe: dict[str, Any]) -> AppDTO:
        functions: dict[str, Any] = dict(describe.get("functions") or {})
        version = AppVersionDTO.model_validate(
            {
                **header(version_id(spec)),
                "env": {},
                "kernel": "python",
                "metadata": {},
                "repository": spec.target,
                "resources": {},
                "input_schema": describe.get("input_schema") or {},
                "output_schema": describe.get("output_schema") or {},
                "setup_schema": describe.get("setup_schema") or {},
                "functions": functions,
                "default_function": describe.get("default_function") or "run",
                "required_secrets": [{"key": key, "optional": False} for key in spec.secrets]
                + [{"key": key, "optional": True} for key in spec.optional_secrets],
            }
        )
        return AppDTO.model_validate(
            {
                **header(app_id(spec)),
                "namespace": spec.namespace,
                "name": spec.name,
                "title": spec.name,
                "description": str(spec.config.get("description") or ""),
                "agent_description": "",
                "category": str(spec.config.get("category") or "other"),
                "images": {},
                "status": "active",
                "version_id": version.id,
                "version": version,
            }
        )

    async def get(self, namespace: str, name: str) -> AppDTO:
        """An app by ``namespace/name``, with its input and output JSON schemas."""
        spec = self.spec(f"{namespace}/{name}")
        return self._dto(spec, await self.describe(spec))

    def list_page(self, body: Any) -> CursorListResponse[AppDTO]:
        """``POST /apps/list``: one page of apps, the last registered first.

        An app's schemas are in its version once a worker has loaded it (a run or a ``GET``);
        a list never starts workers.
        """
        query = list_query(body)
        refs = self.registry.registered()
        numbered = list(enumerate(refs, start=1))
        if not query.ascending:
            numbered.reverse()
        after = query.after

        def rows() -> Iterator[tuple[int, dict[str, Any]]]:
            for position, ref in numbered:
                if after is not None and (
                    position <= after if query.ascending else position >= after
                ):
                    continue
                spec = self.spec(ref)
                yield position, dump(self._dto(spec, self.describes.get(spec.key, {})))

        return page(
            rows(), query, AppDTO.model_validate, ("namespace", "name", "title", "description")
        )

    async def get_by_id(self, app_id_: str) -> AppDTO:
        """An app (its current version) by its id."""
        for ref in self.registry.refs():
            spec = self.spec(ref)
            if app_id(spec) == app_id_:
                return self._dto(spec, await self.describe(spec))
        raise ApiError(404, "not_found", f"App not found: {app_id_}")

    async def get_version(self, app_id_: str, version: str) -> AppDTO:
        """An app as it is at one version: its version id (full or short) or version name."""
        for spec in self.registry.specs():
            number = version_id(spec)
            if app_id(spec) == app_id_ and version in (number, number[4:12], spec.version):
                return self._dto(spec, await self.describe(spec))
        raise ApiError(404, "not_found", f"App version not found: {app_id_}@{version}")

    def delete(self, app_id_: str) -> None:
        """Unregister a user app, every version (built-in ones stay)."""
        for ref in self.registry.refs():
            if app_id(self.spec(ref)) == app_id_:
                if ref in BUILTIN_APPS:
                    raise ApiError(403, "forbidden", f"{ref} is built in and cannot be deleted")
                for spec in self.registry.specs():
                    if spec.ref == ref:
                        self.describes.pop(spec.key, None)
                self.registry.remove(ref)
                return
        raise ApiError(404, "not_found", f"App not found: {app_id_}")

    def check_secrets(self, spec: AppSpec) -> None:
        """412 ``requirements_not_met`` when a secret the app needs is not set."""
        missing = [
            key for key in spec.secrets if key not in self.config.secrets and key not in os.environ
        ]
        if missing:
            errors = [
                RequirementError.model_validate(
                    {
                        "type": "secret",
                        "key": key,
                        "message": f"secret {key} is required by {spec.ref} but is not set",
                        "action": {"type": "add_secret", "secrets": [key]},
                    }
                ).model_dump(mode="json", exclude_none=True)
                for key in missing
            ]
            raise ApiError(
                412, "requirements_not_met", errors[0]["message"], extra={"errors": errors}
            )
