#!/usr/bin/python
# Copyright: Digitribe
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ufw
short_description: Converge UFW's rules, policies, logging and after.rules in one call
version_added: 0.2.0
description:
  - Takes everything the firewall must be, reads UFW once (its status, the rules it holds for
    IPv4 and IPv6, its settings files, C(after.rules) and a live iptables chain), compares in
    Python and changes only what differs, in an order that never leaves the host more open than
    asked (settings files, then rules, then policies and logging, then enabling, then a reload).
  - A rule is known by its name, kept as UFW's comment. A rule that UFW holds with another action,
    protocol, port or source (for IPv4, and for IPv6 too when it is from anywhere) is added again
    with the declared ones; with O(purge), every rule whose comment is not a declared name goes.
  - community.general.ufw runs C(ufw default), C(ufw logging) and C(ufw enable) on every call, and
    each reloads an active firewall while reporting no change; this module calls UFW only for what
    differs.
  - Everything is checked before anything changes, including O(keep_open). A declared state
    that would lock out the address Ansible connects from is refused, naming the fix.
  - The C(firewall) role calls it in check mode to learn whether anything differs, and only then
    arms its dead-man switch and calls it again to converge.
author:
  - Digitribe (@digitribe)
attributes:
  check_mode:
    support: full
    description: Reports what would change, with its diff, and changes nothing.
  diff_mode:
    support: full
    description: One diff of the firewall's state as text, before and after.
  idempotent:
    support: full
    description: A second run with the same arguments changes nothing.
options:
  rules:
    description: The rules to allow, each known by its O(rules[].name).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: >-
          The rule's name, kept as UFW's comment; unique. Letters, digits, spaces and
          C(_ . : / -).
        type: str
        required: true
      from:
        description: The source, an address or network (IPv4 or IPv6), or C(any).
        type: str
        default: any
      port:
        description: The destination port or range (C(8000:8100)); empty for every port.
        type: str
        default: ""
      proto:
        description: The protocol; C(any) only without a port.
        type: str
        choices: [tcp, udp, any]
        default: tcp
  purge:
    description: Delete every rule UFW holds whose comment is not a declared O(rules[].name)
      (added by hand, by another tool, or declared before and no longer).
    type: bool
    default: true
  policies:
    description: The default policies; a direction left out is left as it is.
    type: dict
    default: {}
    suboptions:
      incoming:
        description: For packets to this host.
        type: str
        choices: [allow, deny, reject]
      outgoing:
        description: For packets from this host.
        type: str
        choices: [allow, deny, reject]
      routed:
        description: For packets routed through this host.
        type: str
        choices: [allow, deny, reject]
  logging:
    description: UFW's log level (C(on) is C(low)); left as it is when omitted.
    type: str
    choices: ["off", "on", low, medium, high, full]
  manage_builtins:
    description: C(MANAGE_BUILTINS) in C(/etc/default/ufw). False keeps UFW from flushing the
      built-in chains at every start (where Docker has its jumps).
    type: bool
  after_rules:
    description: A block of C(/etc/ufw/after.rules) between two marker lines, as
      C(ansible.builtin.blockinfile) writes it (an existing block is recognised); the block is
      tested with C(iptables-restore --test) before the file is written, and a changed block
      reloads an active UFW.
    type: dict
    suboptions:
      marker:
        description: The marker line, with C({mark}) where C(BEGIN) and C(END) go.
        type: str
        required: true
      block:
        description: The lines between the markers (a complete C(iptables-restore) unit).
        type: str
        required: true
  live_chain:
    description: A chain the block of O(after_rules) builds. When the running chain holds another
      number of rules carrying O(live_chain.comment) (flushed by hand, say), UFW is reloaded.
    type: dict
    suboptions:
      chain:
        description: The chain's name, e.g. C(DOCKER-USER).
        type: str
        required: true
      comment:
        description: The comment (C(-m comment --comment)) the block's rules carry.
        type: str
        required: true
      count:
        description: How many rules carry it.
        type: int
        required: true
  enabled:
    description: UFW enforces its rules (C(ufw enable)); false leaves it as it is.
    type: bool
    default: true
  keep_open:
    description: The address and port Ansible connects from and to. Refused, before anything
      changes, when the declared rules would not let it in while the incoming policy is not
      C(allow).
    type: dict
    suboptions:
      address:
        description: An IPv4 or IPv6 address.
        type: str
        required: true
      port:
        description: The SSH port.
        type: int
        required: true
notes:
  - UFW and iptables must be installed for a real call; the module fails with the command to
    install them.
"""

EXAMPLES = r"""
- name: The firewall, whole
  digitribe.cariflex.ufw:
    rules:
      - {name: "cariflex-firewall public any 443/tcp", port: "443"}
      - {name: "cariflex-firewall ssh 10.8.0.0/24 22/tcp", from: 10.8.0.0/24, port: "22"}
    policies: {incoming: deny, outgoing: allow, routed: deny}
    logging: low
    manage_builtins: false
    keep_open: {address: 10.8.0.5, port: 22}
"""

RETURN = r"""
changes:
  description: What changed (or, in check mode, would change), in the order it was done.
  returned: always
  type: list
  elements: str
  sample: ["add rule cariflex-firewall public any 443/tcp", "policy incoming: deny"]
rules_added:
  description: The names of the rules added.
  returned: always
  type: list
  elements: str
rules_removed:
  description: The rules removed, as C(ufw show added) listed them.
  returned: always
  type: list
  elements: str
unforeseen:
  description: >-
    Rules the comparison found missing that UFW already held (it skipped adding them). Not a
    change, but a form of rule the comparison does not know yet.
  returned: when there were any
  type: list
  elements: str
installed:
  description: Whether UFW and iptables are installed. Without them a check-mode call says that
    everything would change (C(changed) true), and a real call fails.
  returned: always
  type: bool
kept_open_by:
  description: The declared rules that let O(keep_open) in.
  returned: when O(keep_open) is given
  type: list
  elements: str
"""

import ipaddress  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import stat  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

NAME = re.compile(r"^[A-Za-z0-9_.:/ -]{1,200}$")
PORT = re.compile(r"^([0-9]{1,5})(:([0-9]{1,5}))?$")
IPTABLES_POLICY = {"allow": "ACCEPT", "deny": "DROP", "reject": "REJECT"}
POLICY_KEYS = {
    "incoming": "DEFAULT_INPUT_POLICY",
    "outgoing": "DEFAULT_OUTPUT_POLICY",
    "routed": "DEFAULT_FORWARD_POLICY",
}
DEFAULT_UFW = "/etc/default/ufw"
UFW_CONF = "/etc/ufw/ufw.conf"
AFTER_RULES = "/etc/ufw/after.rules"
USER_RULES = ("/etc/ufw/user.rules", "/etc/ufw/user6.rules")


class Refused(Exception):
    """Input that cannot be converged; raised before anything is changed."""


def checked_rules(rules):
    """The declared rules, each checked, with its source as a network (or None for any)."""
    out, seen = [], set()
    for index, rule in enumerate(rules):
        name = rule.get("name") or ""
        where = f"rules[{index}] ({name!r})"
        if not NAME.match(name):
            raise Refused(f"{where}: a name is 1-200 letters, digits, spaces and _ . : / -")
        if name in seen:
            raise Refused(f"{where}: the name is declared twice; each rule needs its own")
        seen.add(name)
        source = (rule.get("from") or "any").strip()
        network = None
        if source != "any":
            try:
                network = ipaddress.ip_network(source, strict=False)
            except ValueError:
                raise Refused(
                    f"{where}: from {source!r} is not an address, a network or any"
                ) from None
        port = str(rule.get("port") or "").strip()
        match = PORT.match(port) if port else None
        if port and (
            not match
            or not 1 <= int(match.group(1)) <= 65535
            or (match.group(3) and not int(match.group(1)) < int(match.group(3)) <= 65535)
        ):
            raise Refused(
                f"{where}: port {port!r} is not a port (1-65535) or a range such as 8000:8100"
            )
        proto = rule.get("proto") or "tcp"
        if proto == "any" and port:
            raise Refused(f"{where}: a port needs proto tcp or udp")
        out.append(dict(name=name, source=source, network=network, port=port, proto=proto))
    return out


def expected_tuples(rule):
    """The tuple lines UFW keeps for a rule (user.rules, user6.rules), as read_state() has them."""
    head = f"tuple allow {rule['proto']} {rule['port'] or 'any'}"
    network = rule["network"]
    # UFW keeps a host's source without its /32 (or /128).
    source = (
        str(network.network_address)
        if network is not None and network.prefixlen == network.max_prefixlen
        else str(network)
    )
    if network is None:
        return [
            f"{head} 0.0.0.0/0 any 0.0.0.0/0 in comment={rule['name']}",
            f"{head} ::/0 any ::/0 in comment={rule['name']}",
        ]
    if network.version == 6:
        return [f"{head} ::/0 any {source} in comment={rule['name']}"]
    return [f"{head} 0.0.0.0/0 any {source} in comment={rule['name']}"]


def parse_tuples(text):
    """`### tuple ###` lines of a user.rules file, with the hex comment decoded."""
    lines = []
    for line in (text or "").splitlines():
        if line.startswith("### tuple ### "):
            body, _sep, comment = line[len("### tuple ### ") :].partition(" comment=")
            try:
                decoded = bytes.fromhex(comment).decode("utf-8", "replace")
            except ValueError:
                decoded = comment
            lines.append(f"tuple {body} comment={decoded}")
    return lines


def allow_argv(rule):
    """The ufw command that adds a rule."""
    argv = ["ufw", "allow"]
    if rule["proto"] != "any":
        argv += ["proto", rule["proto"]]
    argv += ["from", rule["source"] if rule["network"] is None else str(rule["network"])]
    argv += ["to", "any"]
    if rule["port"]:
        argv += ["port", rule["port"]]
    return [*argv, "comment", rule["name"]]


COMMENT = re.compile(r" comment '(.*)'$")


def delete_argv(added_line):
    """The ufw command that deletes a rule as `ufw show added` lists it ("ufw allow 22/tcp")."""
    words = COMMENT.sub("", added_line).split()
    if len(words) > 1 and words[1] == "route":
        return ["ufw", "route", "delete", *words[2:]]
    return ["ufw", "delete", *words[1:]]


def settings_value(text, key):
    """The last KEY=value of a shell-style settings file, unquoted; None when absent."""
    value = None
    for line in (text or "").splitlines():
        if line.startswith(key + "="):
            value = line[len(key) + 1 :].strip().strip('"')
    return value


def set_setting(text, key, value):
    """The file with its last KEY= line set (or one appended), as lineinfile would leave it."""
    lines = (text or "").splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith(key + "="):
            lines[index] = f"{key}={value}"
            break
    else:
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def block_lines(after_rules):
    marker = after_rules["marker"]
    return [
        marker.replace("{mark}", "BEGIN"),
        *after_rules["block"].rstrip("\n").splitlines(),
        marker.replace("{mark}", "END"),
    ]


def with_block(text, after_rules):
    """after.rules with the marked block replaced (or appended at the end), as blockinfile does."""
    wanted = block_lines(after_rules)
    lines = (text or "").splitlines()
    begin, end = wanted[0], wanted[-1]
    if begin in lines and end in lines[lines.index(begin) :]:
        start = lines.index(begin)
        stop = start + lines[start:].index(end)
        lines = lines[:start] + wanted + lines[stop + 1 :]
    else:
        lines = lines + wanted
    return "\n".join(lines) + "\n"


def keep_open_by(rules, address, port, policy_in):
    """The declared rules that let address:port/tcp in; raises Refused when none does and the
    incoming policy would drop it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise Refused(f"keep_open: address {address!r} is not an IP address") from None
    hits = []
    for rule in rules:
        port_ok = not rule["port"] or (
            rule["proto"] in ("tcp", "any") and _port_in(rule["port"], port)
        )
        source_ok = rule["network"] is None or (
            rule["network"].version == ip.version and ip in rule["network"]
        )
        if port_ok and source_ok:
            hits.append(rule["name"])
    if not hits and policy_in != "allow":
        raise Refused(
            f"Refusing to change the firewall: Ansible is connected from {address} to port"
            f" {port}/tcp, and none of the declared rules would let that address in once UFW"
            f" enforces them (default incoming policy: {policy_in or 'as it is'}). Nothing was"
            f" changed. Declare a rule whose source holds {address} for port {port}/tcp (for the"
            " firewall role: firewall_ssh_admin_ranges or firewall_wireguard_subnet), or give the"
            " address Ansible really comes from."
        )
    return hits


def _port_in(spec, port):
    low, _sep, high = spec.partition(":")
    return int(low) <= int(port) <= int(high or low)


def plan(params, state):
    """What differs between the declared state and the one read, as ordered actions. Pure: the
    unit tests call it with states they make up."""
    rules = checked_rules(params.get("rules") or [])
    policies = {k: v for k, v in (params.get("policies") or {}).items() if v}
    actions = []
    result = dict(rules_added=[], rules_removed=[])
    if params.get("keep_open"):
        keep = params["keep_open"]
        policy_in = policies.get("incoming")
        if policy_in is None:
            current = settings_value(
                (state.get("default_ufw") or {}).get("text"), POLICY_KEYS["incoming"]
            )
            policy_in = {v: k for k, v in IPTABLES_POLICY.items()}.get(current or "", "deny")
        result["kept_open_by"] = keep_open_by(rules, keep["address"], keep["port"], policy_in)

    default_text = (state.get("default_ufw") or {}).get("text")
    if params.get("manage_builtins") is not None:
        value = "yes" if params["manage_builtins"] else "no"
        if default_text is None or settings_value(default_text, "MANAGE_BUILTINS") != value:
            actions.append(
                (
                    "write",
                    DEFAULT_UFW,
                    set_setting(default_text, "MANAGE_BUILTINS", value),
                    "0644",
                    None,
                )
            )
    after = params.get("after_rules")
    reload_needed = bool(actions)
    if after:
        current = state.get("after_rules") or {}
        wanted = with_block(current.get("text"), after)
        if current.get("text") != wanted or current.get("mode") != "0640":
            # The block is a complete iptables-restore unit: it must parse and load on this kernel.
            actions.append(("write", AFTER_RULES, wanted, "0640", after["block"]))
            reload_needed = True

    held = set(state.get("tuples") or [])
    for rule in rules:
        if any(line not in held for line in expected_tuples(rule)):
            actions.append(("run", allow_argv(rule), f"add rule {rule['name']}"))
            result["rules_added"].append(rule["name"])
    if params.get("purge", True):
        names = {rule["name"] for rule in rules}
        for line in state.get("added") or []:
            if not line.startswith("ufw "):
                continue
            match = COMMENT.search(line)
            if match is None or match.group(1) not in names:
                actions.append(("run", delete_argv(line), f"remove rule {line}"))
                result["rules_removed"].append(line)

    for direction, policy in policies.items():
        current = settings_value(default_text, POLICY_KEYS[direction])
        if current != IPTABLES_POLICY[policy]:
            actions.append(
                ("run", ["ufw", "default", policy, direction], f"policy {direction}: {policy}")
            )
    if params.get("logging"):
        level = "low" if params["logging"] == "on" else params["logging"]
        conf = (state.get("ufw_conf") or {}).get("text")
        if settings_value(conf, "LOGLEVEL") != level:
            actions.append(("run", ["ufw", "logging", params["logging"]], f"logging: {level}"))
    active = "Status: active" in (state.get("status") or "")
    if params.get("enabled", True) and not active:
        actions.append(("run", ["ufw", "--force", "enable"], "enable UFW"))
    elif active and reload_needed:
        actions.append(("run", ["ufw", "reload"], "reload UFW (settings or after.rules changed)"))
    live = params.get("live_chain")
    if live and active and not reload_needed:
        marked = [
            line
            for line in (state.get("live_chain") or "").splitlines()
            if f"--comment {live['comment']}" in line
        ]
        if len(marked) != live["count"]:
            actions.append(
                (
                    "run",
                    ["ufw", "reload"],
                    f"reload UFW ({live['chain']} holds {len(marked)} of {live['count']} rules)",
                )
            )
    return actions, result


def describe(state):
    """The state as text, for --diff: settings, rules (tuples) and status."""
    default_text = (state.get("default_ufw") or {}).get("text")
    lines = [f"status: {(state.get('status') or 'not installed').splitlines()[0]}"]
    for direction, key in POLICY_KEYS.items():
        lines.append(f"policy {direction}: {settings_value(default_text, key)}")
    lines.append(f"MANAGE_BUILTINS={settings_value(default_text, 'MANAGE_BUILTINS')}")
    lines.append(
        f"LOGLEVEL={settings_value((state.get('ufw_conf') or {}).get('text'), 'LOGLEVEL')}"
    )
    lines += sorted(line for line in state.get("added") or [] if line.startswith("ufw "))
    return "\n".join(lines) + "\n"


def read_text(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    return {
        "text": data.decode("utf-8", "replace"),
        "mode": f"{stat.S_IMODE(os.stat(path).st_mode):04o}",
    }


def read_state(run, chain):
    """UFW as it is, in one pass."""
    rc, status, err = run(["ufw", "status"])
    if rc != 0:
        raise Refused(
            f"`ufw status` failed ({(err or status).strip()[:200]}): is UFW installed?"
            " apt-get install ufw iptables"
        )
    rc, added, err = run(["ufw", "show", "added"])
    if rc != 0:
        raise Refused(
            f"`ufw status` answers but `ufw show added` fails: {(err or added).strip()[:200]}"
        )
    tuples = []
    for path in USER_RULES:
        tuples += parse_tuples((read_text(path) or {}).get("text"))
    live = None
    if chain:
        rc, out, _err = run(["iptables", "-w", "-S", chain])
        live = out if rc == 0 else ""
    return dict(
        status=status,
        added=added.splitlines(),
        tuples=tuples,
        default_ufw=read_text(DEFAULT_UFW),
        ufw_conf=read_text(UFW_CONF),
        after_rules=read_text(AFTER_RULES),
        live_chain=live,
    )


def write_file(run, path, text, mode, block):
    """Replace a file atomically; a block of iptables rules is tested first."""
    if block is not None:
        rc, out, err = run(["iptables-restore", "--test"], data=block)
        if rc != 0:
            raise Refused(
                f"{path}: the block does not load (iptables-restore --test); the file is left as"
                f" it was: {(err or out).strip()[-300:]}"
            )
    directory = os.path.dirname(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, int(mode, 8))
        os.rename(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


RULE_SPEC = dict(
    name=dict(type="str", required=True),
    proto=dict(type="str", choices=["tcp", "udp", "any"], default="tcp"),
    port=dict(type="str", default=""),
    **{"from": dict(type="str", default="any")},
)
POLICY = dict(type="str", choices=["allow", "deny", "reject"])
ARGUMENT_SPEC = dict(
    rules=dict(type="list", elements="dict", options=RULE_SPEC, default=[]),
    purge=dict(type="bool", default=True),
    policies=dict(
        type="dict",
        default={},
        options=dict(incoming=POLICY, outgoing=POLICY, routed=POLICY),
    ),
    logging=dict(type="str", choices=["off", "on", "low", "medium", "high", "full"]),
    manage_builtins=dict(type="bool"),
    after_rules=dict(
        type="dict",
        options=dict(marker=dict(type="str", required=True), block=dict(type="str", required=True)),
    ),
    live_chain=dict(
        type="dict",
        options=dict(
            chain=dict(type="str", required=True),
            comment=dict(type="str", required=True),
            count=dict(type="int", required=True),
        ),
    ),
    enabled=dict(type="bool", default=True),
    keep_open=dict(
        type="dict",
        options=dict(address=dict(type="str", required=True), port=dict(type="int", required=True)),
    ),
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )

    def run(argv, data=None):
        return module.run_command(argv, data=data, binary_data=data is not None)

    missing = [name for name in ("ufw", "iptables") if module.get_bin_path(name) is None]
    if missing:
        if not module.check_mode:
            module.fail_json(
                msg=f"{' and '.join(missing)} not installed: apt-get install ufw iptables"
                " (the firewall role installs them)"
            )
        # What a check-mode call says on a host without UFW: everything would change.
        module.exit_json(
            changed=True,
            installed=False,
            changes=[f"install {' '.join(missing)}"],
            rules_added=[],
            rules_removed=[],
        )
    live = module.params.get("live_chain")
    try:
        state = read_state(run, live["chain"] if live else None)
        actions, result = plan(module.params, state)
        changes = []
        for action in actions:
            if action[0] == "write":
                _kind, path, text, mode, block = action
                changes.append(f"write {path}")
                if not module.check_mode:
                    write_file(run, path, text, mode, block)
            else:
                _kind, argv, what = action
                changes.append(what)
                if not module.check_mode:
                    rc, out, err = run(argv)
                    if rc != 0:
                        module.fail_json(
                            msg=f"{' '.join(argv)} failed after {len(changes) - 1} change(s):"
                            f" {(err or out).strip()[:300]}",
                            changes=changes,
                        )
                    if (
                        argv[1] == "allow"
                        and "Skipping adding existing rule" in out
                        and ("Rule added" not in out)
                    ):
                        # UFW held the rule in a form this module did not foresee: no change,
                        # and the comparison has a case to learn (reported, not hidden).
                        changes.pop()
                        result.setdefault("unforeseen", []).append(what)
    except Refused as err:
        module.fail_json(msg=str(err))
    output = dict(changed=bool(changes), installed=True, changes=changes, **result)
    if module._diff and changes:
        after = state if module.check_mode else read_state(run, live["chain"] if live else None)
        output["diff"] = dict(
            before=describe(state),
            after=describe(after) if not module.check_mode else "\n".join(changes) + "\n",
        )
    module.exit_json(**output)


if __name__ == "__main__":
    main()
