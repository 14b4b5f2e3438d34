# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a file, as host_state found it, what a copy/template/file task would leave there?"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: written_as
short_description: A path that host_state read is as a writing task would leave it
version_added: 0.2.0
description:
  - The roles read their files once with M(digitribe.cariflex.host_state) and skip each
    C(ansible.builtin.copy), C(ansible.builtin.template) or C(ansible.builtin.file) task whose
    target is already as the task would leave it. This test is that comparison, written once.
  - True when the entry exists, is a directory if O(directory) is set and a regular file otherwise,
    and has the mode, owner and group given; for a file, also the content (SHA-1 of O(content), or
    O(checksum)) when one of them is given.
  - A missing, undefined or null entry is never as written. Bad arguments fail the task and name
    the argument.
positional: _input
options:
  _input:
    description: One path's entry from host_state's C(files) (or C({}) when it was not read).
    type: dict
    required: true
  content:
    description: The text the task writes; compared by SHA-1 of its UTF-8 bytes, as Ansible does.
    type: str
  checksum:
    description: The SHA-1 (40 hex digits) of the content, when the caller has it already.
    type: str
  mode:
    description: The mode the task sets, as octal digits (C(0644)).
    type: str
    required: true
  owner:
    description: The owner's uid.
    type: int
    default: 0
  group:
    description: The group's gid.
    type: int
    default: 0
  directory:
    description: The path is a directory (then O(content) and O(checksum) must not be given).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Write the configuration, unless it is in place already
  ansible.builtin.template:
    src: app.toml.j2
    dest: /etc/app/app.toml
    owner: root
    group: root
    mode: "0644"
  when: >-
    app__state.files['/etc/app/app.toml'] is not digitribe.cariflex.written_as(
      content=lookup('ansible.builtin.template', 'app.toml.j2'), mode='0644')
"""

RETURN = r"""
_value:
  description: Whether the entry is as the task would leave it.
  type: bool
"""

_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def _mode(value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"0?[0-7]{3,4}", text) or int(text, 8) > 0o7777:
        raise AnsibleFilterError(
            f"written_as: mode must be octal digits such as '0644', not {value!r}"
        )
    return f"{int(text, 8):04o}"


def _id(name: str, value: Any) -> int:
    numeric = isinstance(value, int) or (isinstance(value, str) and value.isdigit())
    if isinstance(value, bool) or not numeric:
        raise AnsibleFilterError(
            f"written_as: {name} must be a numeric id such as 0, not {value!r}"
        )
    return int(value)


def written_as(
    found: Any,
    content: str | None = None,
    checksum: str | None = None,
    mode: Any = None,
    owner: Any = 0,
    group: Any = 0,
    directory: bool = False,
) -> bool:
    # Every argument is checked before the entry is looked at: a typo fails on every host alike.
    if mode is None:
        raise AnsibleFilterError("written_as: give the mode the task sets, such as mode='0644'")
    want_mode = _mode(mode)
    want_uid, want_gid = _id("owner", owner), _id("group", group)
    if content is not None and checksum is not None:
        raise AnsibleFilterError("written_as: give content or checksum, not both")
    if directory and (content is not None or checksum is not None):
        raise AnsibleFilterError("written_as: a directory has no content; drop content/checksum")
    if checksum is not None and not _SHA1.match(str(checksum)):
        raise AnsibleFilterError(
            f"written_as: checksum must be 40 lowercase hex digits (SHA-1), not {checksum!r}"
        )
    if content is not None:
        checksum = hashlib.sha1(str(content).encode("utf-8")).hexdigest()

    if not isinstance(found, Mapping) or not found.get("exists", False):
        return False
    if bool(found.get("isdir")) != bool(directory):
        return False
    if checksum is not None and found.get("checksum") != checksum:
        return False
    return (
        found.get("mode") == want_mode
        and found.get("uid") == want_uid
        and found.get("gid") == want_gid
    )


class TestModule:
    def tests(self) -> dict[str, Any]:
        return {"written_as": written_as}
