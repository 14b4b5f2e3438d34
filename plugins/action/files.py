# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's half of digitribe.cariflex.files (documented with the module).

Renders each entry's `template` (the role's templates/, with the task's variables) and reads each
`src` (the role's files/) here, so that the host gets final contents in one module call; returns
each content's SHA-256 as `checksums`, also in check mode, for labels that must follow a file.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader

SOURCES = ("content", "template", "src")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        unknown = set(self._task.args) - {"files"}
        if unknown:
            raise AnsibleActionFail(f"unknown argument(s): {', '.join(sorted(unknown))}")
        entries = self._task.args.get("files")
        if not isinstance(entries, list):
            raise AnsibleActionFail("files: a list of files and folders is required")
        prepared, checksums = [], {}
        for index, entry in enumerate(entries):
            prepared.append(self._prepare(index, entry, task_vars))
            content = prepared[-1].get("content", prepared[-1].get("secret_content"))
            if content is not None:
                checksums[prepared[-1]["path"]] = sha256(content)
        result.update(
            self._execute_module(
                module_name="digitribe.cariflex.files",
                module_args={"files": prepared},
                task_vars=task_vars,
            )
        )
        result["checksums"] = checksums
        return result

    def _prepare(self, index: int, entry: Any, task_vars: dict[str, Any]) -> dict[str, Any]:
        """One entry as the module takes it: its content rendered or read here."""
        if not isinstance(entry, dict) or not entry.get("path"):
            raise AnsibleActionFail(f"files[{index}]: each entry is a mapping with a path")
        path = str(entry["path"])
        given = [key for key in SOURCES if entry.get(key) is not None]
        if len(given) > 1:
            raise AnsibleActionFail(f"{path}: give one of content, template and src, not {given}")
        prepared = {key: value for key, value in entry.items() if key not in SOURCES}
        content = None
        template_vars = prepared.pop("template_vars", None) or {}
        if not isinstance(template_vars, dict):
            raise AnsibleActionFail(f"{path}: template_vars must be a mapping")
        if template_vars and "template" not in given:
            raise AnsibleActionFail(f"{path}: template_vars is for a template")
        if "template" in given:
            content = self._render(path, str(entry["template"]), task_vars, template_vars)
        elif "src" in given:
            content = self._read(path, str(entry["src"]))
        elif "content" in given:
            content = str(to_text(entry["content"]))
        if self._task.no_log:
            prepared["secret"] = True
        if content is not None:
            # A secret travels in the module's no_log argument: Ansible then keeps it out of
            # every log, and masks it wherever else it would show.
            secret = boolean(prepared.get("secret", False), strict=False)
            prepared["secret_content" if secret else "content"] = content
        return prepared

    def _render(
        self, path: str, name: str, task_vars: dict[str, Any], template_vars: dict[str, Any]
    ) -> str:
        try:
            found = self._find_needle("templates", name)
        except Exception as err:
            raise AnsibleActionFail(f"{path}: template {name} not found: {err}") from err
        lookup = lookup_loader.get(
            "ansible.builtin.template", loader=self._loader, templar=self._templar
        )
        try:
            rendered = lookup.run([found], variables=task_vars, template_vars=template_vars)[0]
        except Exception as err:
            raise AnsibleActionFail(f"{path}: template {name} failed to render: {err}") from err
        return str(to_text(rendered))

    def _read(self, path: str, name: str) -> str:
        try:
            found = self._find_needle("files", name)
            with open(found, "rb") as f:
                return to_text(f.read(), errors="surrogate_or_strict")
        except Exception as err:
            raise AnsibleActionFail(f"{path}: src {name} cannot be read: {err}") from err
