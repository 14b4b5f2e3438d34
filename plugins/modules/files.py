#!/usr/bin/python
# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Converge many files and folders (content, owner, group, mode) in one call
version_added: 0.2.0
description:
  - Takes the whole desired state of a group of files and folders, reads each of them on the
    host, compares in Python, and changes only what differs (content, owner, group, mode); folders
    are created, paths that must be absent removed. One call to the host for the whole group, in
    the order given, so a folder is made before the files in it.
  - Used through the action plugin of the same name, which renders O(files[].template) and reads
    O(files[].src) on the controller (with the role's search path, like C(ansible.builtin.template)
    and C(ansible.builtin.copy)) and returns each content's SHA-256 in RV(checksums), for a
    container label that must change with a file. The host receives the final contents only.
  - Everything is checked before anything is written (modes, owners and groups that do not exist,
    a path that is a folder where a file is wanted); a failure names the path and the fix. A file
    is replaced atomically, after O(files[].validate) accepted it.
  - Contents never appear in the task's arguments as logged; in C(--diff), a O(files[].secret)
    file shows that its content changed and never what it is.
author:
  - Digitribe (@digitribe)
attributes:
  check_mode:
    support: full
    description: Reports what would change, with its diff, and changes nothing.
  diff_mode:
    support: full
    description: One diff per changed path; a secret's content is replaced by a note.
  idempotent:
    support: full
    description: A second run with the same arguments changes nothing.
options:
  files:
    description: The files and folders, in the order they are converged.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path on the host.
        type: path
        required: true
      state:
        description:
          - C(file) has exactly the content given (O(files[].content), O(files[].template) or
            O(files[].src)).
          - C(exists) is a regular file, created empty when missing; its content is left as it is
            (a file a service writes, such as Traefik's C(acme.json)).
          - C(directory) is a folder (parents are created as needed, owned by root).
          - C(absent) does not exist (a folder is removed with what is in it).
        type: str
        choices: [file, exists, directory, absent]
        default: file
      content:
        description: The file's content (text). With the action plugin, instead of
          O(files[].template) or O(files[].src).
        type: str
      secret_content:
        description: The content of a O(files[].secret) file. The action plugin passes a secret's
          content here, never in O(files[].content), so that Ansible keeps it out of every log
          (C(no_log)) and masks it wherever else it would appear.
        type: str
      template:
        description: A Jinja template in the role's C(templates/) (action plugin only).
        type: str
      template_vars:
        description: Variables for this O(files[].template) only, beside the task's (action
          plugin only), e.g. the item of a list of similar files.
        type: dict
      src:
        description: A file in the role's C(files/) (action plugin only).
        type: str
      mode:
        description: The mode, a string of octal digits such as C("0640"). Left as it is when
          omitted (a new file or folder then gets the process's umask).
        type: str
      owner:
        description: User name or numeric uid. Left as it is when omitted.
        type: str
      group:
        description: Group name or numeric gid. Left as it is when omitted.
        type: str
      validate:
        description: A command run on the new content before it replaces the file; C(%s) is the
          path of the new content. Not run in check mode.
        type: str
      exclusive:
        description: For a C(directory), remove what it holds that this call does not list
          (files and folders directly in it), e.g. dashboards a role no longer provides.
        type: bool
        default: false
      secret:
        description: The content is a secret; C(--diff) says that it changed, never what it is.
          Every entry of a task with C(no_log) counts as a secret.
        type: bool
        default: false
      return_previous:
        description:
          - Return the file's content as it was before this call, in RV(files)[path].previous
            (null when there was no file), for what follows a change and needs the old content
            (compare it with the new one, or put it back when a service refuses the new one).
          - For a C(file) that is not a secret.
        type: bool
        default: false
notes:
  - Contents are text (UTF-8). A file whose content holds a secret (a rendered configuration
    with a password in it, too) must say O(files[].secret), or the task C(no_log).
"""

EXAMPLES = r"""
- name: Traefik's folders and configuration
  digitribe.cariflex.files:
    files:
      - {path: /opt/traefik, state: directory, owner: root, group: root, mode: "0755"}
      - path: /opt/traefik/config/traefik.yml
        template: traefik.yml.j2
        mode: "0644"
        validate: /usr/bin/python3 -m json.tool %s
      - path: /opt/traefik/acme/acme.json
        state: exists
        owner: "65534"
        group: "65534"
        mode: "0600"
      - {path: /opt/traefik/config/acme-ca.pem, state: absent}
  register: traefik__files
  notify: Restart Traefik

- name: A label that changes with the file
  ansible.builtin.debug:
    msg: "{{ traefik__files.checksums['/opt/traefik/config/traefik.yml'] }}"
"""

RETURN = r"""
changed_paths:
  description: The paths changed (or, in check mode, that would change), in the order given.
  returned: always
  type: list
  elements: str
  sample: [/opt/traefik/config/traefik.yml]
files:
  description: Per path, whether it changed and what about it (C(created), C(content), C(mode),
    C(owner), C(group), C(removed)); with O(files[].return_previous), C(previous) too.
  returned: always
  type: dict
  sample: {"/opt/traefik/config/traefik.yml": {"changed": true, "what": ["content"]}}
checksums:
  description: SHA-256 of each O(files[].content) (as rendered), by path; set by the action plugin
    whether or not the file changed, also in check mode.
  returned: with the action plugin
  type: dict
  sample:
    /opt/traefik/traefik.yml: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
"""

import grp  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

MODE = re.compile(r"^[0-7]{3,4}$")
SECRET_NOTE = "(a secret: its content is not shown)\n"
SECRET_CHANGED = "(a secret, changed: its content is not shown)\n"


class Refused(Exception):
    """Input that cannot be converged; raised before anything is written."""


def parse_mode(path, mode):
    if mode is None:
        return None
    if not isinstance(mode, str) or not MODE.match(mode):
        raise Refused(
            f"{path}: mode {mode!r} is not a string of octal digits;"
            ' quote it in YAML, e.g. mode: "0640"'
        )
    return int(mode, 8)


def resolve_id(path, kind, value):
    """A user or group name, or a number, as its numeric id; None when not given."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        if kind == "owner":
            return pwd.getpwnam(text).pw_uid
        return grp.getgrnam(text).gr_gid
    except KeyError:
        what = "user" if kind == "owner" else "group"
        raise Refused(
            f"{path}: {kind} {what} {text!r} does not exist on this host;"
            " create it first or give a numeric id"
        ) from None


def read_current(path):
    """What is at the path now: its kind (None, file, directory, other), mode, uid and gid."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"kind": None}
    if stat.S_ISDIR(st.st_mode):
        kind = "directory"
    elif stat.S_ISREG(st.st_mode):
        kind = "file"
    else:
        kind = "other"
    return {"kind": kind, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def read_content(path):
    with open(path, "rb") as f:
        return f.read()


def desired(entry):
    """The checked form of one entry: everything resolved, or Refused."""
    path = os.path.normpath(entry["path"]) if entry["path"] else entry["path"]
    if not path or not os.path.isabs(path):
        raise Refused(f"{path}: path must be absolute")
    state = entry.get("state") or "file"
    content = entry.get("content")
    secret = bool(entry.get("secret"))
    if entry.get("secret_content") is not None:
        if content is not None:
            raise Refused(f"{path}: give content or secret_content, not both")
        content, secret = entry["secret_content"], True
    if state == "file" and content is None:
        raise Refused(f"{path}: state file needs a content (or template, or src)")
    if state != "file" and content is not None:
        raise Refused(f"{path}: a content is given but state is {state}")
    want = {
        "path": path,
        "state": state,
        "content": None if content is None else content.encode("utf-8"),
        "mode": parse_mode(path, entry.get("mode")),
        "uid": resolve_id(path, "owner", entry.get("owner")),
        "gid": resolve_id(path, "group", entry.get("group")),
        "validate": entry.get("validate"),
        "secret": secret,
        "exclusive": bool(entry.get("exclusive")),
    }
    want["return_previous"] = bool(entry.get("return_previous"))
    if want["return_previous"] and (state != "file" or secret):
        raise Refused(f"{path}: return_previous is for a file (state: file) that is not a secret")
    if want["exclusive"] and state != "directory":
        raise Refused(f"{path}: exclusive is for a directory (state: directory)")
    if want["validate"] and "%s" not in want["validate"]:
        raise Refused(f"{path}: validate must contain %s (the path of the new content)")
    return want


def compare(want, current, content_now):
    """What differs between the wanted state and the current one, as a list of words (empty when
    nothing does). `content_now` is the current content of a regular file, else None."""
    state, kind = want["state"], current["kind"]
    if state == "absent":
        return ["removed"] if kind is not None else []
    wanted_kind = "directory" if state == "directory" else "file"
    if kind is not None and kind != wanted_kind:
        found = "folder" if kind == "directory" else kind
        raise Refused(
            f"{want['path']}: is a {found} where a {wanted_kind} is wanted;"
            " move it away (nothing is removed in its place)"
        )
    if kind is None:
        return ["created"]
    what = []
    if state == "file" and content_now != want["content"]:
        what.append("content")
    if want["mode"] is not None and current["mode"] != want["mode"]:
        what.append("mode")
    if want["uid"] is not None and current["uid"] != want["uid"]:
        what.append("owner")
    if want["gid"] is not None and current["gid"] != want["gid"]:
        what.append("group")
    return what


def _attrs(mode, uid, gid):
    parts = []
    if mode is not None:
        parts.append(f"mode {mode:04o}")
    if uid is not None:
        parts.append(f"owner {uid}")
    if gid is not None:
        parts.append(f"group {gid}")
    return ", ".join(parts)


def _describe(kind, text, mode, uid, gid):
    """A path's state as diff text: its content (or a note), then the managed attributes."""
    if kind is None:
        return "(absent)\n"
    body = text if text is not None else ""
    if body and not body.endswith("\n"):
        body += "\n"
    attrs = _attrs(mode, uid, gid)
    if attrs:
        body += f"# {attrs}\n"
    if kind == "directory" or text is None:
        body = f"({kind})\n" + body
    return body


def diff_of(want, current, content_now, what):
    """One --diff entry for a changed path. A secret's content never appears: the diff says only
    whether it changed."""
    text_before = text_after = None
    if want["state"] == "file":
        if want["secret"]:
            changed = "content" in what or "created" in what
            text_before = SECRET_NOTE if content_now is not None else None
            text_after = SECRET_CHANGED if changed else SECRET_NOTE
        else:
            if content_now is not None:
                text_before = content_now.decode("utf-8", "replace")
            text_after = want["content"].decode("utf-8", "replace")

    def managed(key, value):
        return value if want[key] is not None else None

    before = _describe(
        current["kind"],
        text_before,
        managed("mode", current.get("mode")),
        managed("uid", current.get("uid")),
        managed("gid", current.get("gid")),
    )
    if want["state"] == "absent":
        after = "(absent)\n"
    else:
        kind = "directory" if want["state"] == "directory" else "file"
        after = _describe(kind, text_after, want["mode"], want["uid"], want["gid"])
    path = want["path"]
    return {"before_header": path, "after_header": path, "before": before, "after": after}


def apply_attrs(path, want):
    if want["uid"] is not None or want["gid"] is not None:
        uid = -1 if want["uid"] is None else want["uid"]
        gid = -1 if want["gid"] is None else want["gid"]
        os.chown(path, uid, gid)
    if want["mode"] is not None:
        os.chmod(path, want["mode"])


def write_file(run_command, want, exists):
    """Write the content next to the file, validate it, set its attributes, move it in place."""
    path = want["path"]
    handle, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(want["content"])
        # A new content keeps the attributes not given; a new file gets the umask's.
        if exists:
            st = os.stat(path)
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        apply_attrs(tmp, want)
        if want["validate"]:
            rc, out, err = run_command(want["validate"].replace("%s", shlex.quote(tmp)))
            if rc != 0:
                said = (err or out).strip()[-500:]
                raise Refused(
                    f"{path}: the new content failed its validation ({want['validate']});"
                    f" the file is left as it was: {said}"
                )
        os.rename(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def converge(entries, check_mode, run_command):
    """Check every entry and read every path first (refusing bad input before any write), then
    change what differs, in order. Returns (files, changed_paths, diffs)."""
    wants = [desired(entry) for entry in entries]
    seen = set()
    for want in wants:
        if want["path"] in seen:
            raise Refused(f"{want['path']}: listed twice; say once what it must be")
        seen.add(want["path"])
    plans = []
    for want in wants:
        current = read_current(want["path"])
        content_now = None
        if want["state"] == "file" and current["kind"] == "file":
            content_now = read_content(want["path"])
        plans.append((want, current, content_now, compare(want, current, content_now)))
    # What an exclusive folder holds beyond the listed paths goes, after everything else.
    for want in wants:
        if want["exclusive"] and os.path.isdir(want["path"]):
            for name in sorted(os.listdir(want["path"])):
                path = os.path.join(want["path"], name)
                if path not in seen:
                    gone = {
                        "path": path,
                        "state": "absent",
                        "mode": None,
                        "uid": None,
                        "gid": None,
                        "secret": False,
                    }
                    plans.append((gone, read_current(path), None, ["removed"]))

    files, changed_paths, diffs = {}, [], []
    for want, current, content_now, what in plans:
        path = want["path"]
        files[path] = {"changed": bool(what), "what": what}
        if want.get("return_previous"):
            files[path]["previous"] = (
                None if content_now is None else content_now.decode("utf-8", "replace")
            )
        if not what:
            continue
        changed_paths.append(path)
        diffs.append(diff_of(want, current, content_now, what))
        if check_mode:
            continue
        state = want["state"]
        if state == "absent":
            if current["kind"] == "directory":
                shutil.rmtree(path)
            else:
                os.unlink(path)
        elif state == "file" and ("content" in what or "created" in what):
            write_file(run_command, want, exists=current["kind"] is not None)
        else:
            if current["kind"] is None and state == "directory":
                os.makedirs(path)
            elif current["kind"] is None:  # exists: an empty file
                with open(path, "ab"):
                    pass
            apply_attrs(path, want)
    return files, changed_paths, diffs


ARGUMENT_SPEC = dict(
    files=dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(
            path=dict(type="path", required=True),
            state=dict(
                type="str", choices=["file", "exists", "directory", "absent"], default="file"
            ),
            content=dict(type="str"),
            secret_content=dict(type="str", no_log=True),
            template=dict(type="str"),
            template_vars=dict(type="dict"),
            src=dict(type="str"),
            mode=dict(type="str"),
            owner=dict(type="str"),
            group=dict(type="str"),
            validate=dict(type="str"),
            exclusive=dict(type="bool", default=False),
            secret=dict(type="bool", default=False),
            return_previous=dict(type="bool", default=False),
        ),
    ),
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    for entry in module.params["files"]:
        if entry.get("template") or entry.get("src"):
            module.fail_json(
                msg=f"{entry['path']}: template and src are rendered by the action plugin;"
                " call it as digitribe.cariflex.files (not as a module through ansible.legacy)"
            )

    def run_command(command):
        return module.run_command(command, use_unsafe_shell=True)

    try:
        files, changed_paths, diffs = converge(
            module.params["files"], module.check_mode, run_command
        )
    except Refused as err:
        module.fail_json(msg=str(err))
    except OSError as err:
        module.fail_json(msg=f"{err.filename or 'a path'}: {err.strerror or err}")
    result = dict(changed=bool(changed_paths), changed_paths=changed_paths, files=files)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
