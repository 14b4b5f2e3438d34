"""Unit tests of the ufw module's comparison (plan): a converged firewall gives no action; each
thing that differs gives exactly its action, in a safe order; bad input and a declared state that
would lock Ansible out are refused before anything changes."""

from __future__ import annotations

import pytest
from ansible_collections.digitribe.cariflex.plugins.modules import ufw

MARKER = "# {mark} cariflex-firewall: DOCKER-USER"
BLOCK = "*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j RETURN\nCOMMIT\n"
RULES = [
    {"name": "cf public any 443/tcp", "from": "any", "port": "443", "proto": "tcp"},
    {"name": "cf internal 172.29.0.0/16", "from": "172.29.0.0/16", "port": "", "proto": "any"},
    {"name": "cf ssh 10.8.0.0/24 22/tcp", "from": "10.8.0.0/24", "port": "22", "proto": "tcp"},
]
DEFAULT_UFW = (
    'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'
    'DEFAULT_FORWARD_POLICY="DROP"\nMANAGE_BUILTINS=no\n'
)


def params(**changes):
    base = {
        "rules": RULES,
        "purge": True,
        "policies": {"incoming": "deny", "outgoing": "allow", "routed": "deny"},
        "logging": "on",
        "manage_builtins": False,
        "after_rules": {"marker": MARKER, "block": BLOCK},
        "live_chain": {"chain": "DOCKER-USER", "comment": "cariflex-firewall", "count": 1},
        "enabled": True,
        "keep_open": None,
    }
    base.update(changes)
    return base


def converged():
    rules = ufw.checked_rules(RULES)
    added = [
        "ufw allow 443/tcp comment 'cf public any 443/tcp'",
        "ufw allow from 172.29.0.0/16 comment 'cf internal 172.29.0.0/16'",
        "ufw allow from 10.8.0.0/24 to any port 22 proto tcp comment 'cf ssh 10.8.0.0/24 22/tcp'",
    ]
    after = "# rules.input-after\n*filter\nCOMMIT\n" + "\n".join(
        ufw.block_lines({"marker": MARKER, "block": BLOCK})
    )
    return {
        "status": "Status: active\n\nTo Action From",
        "added": ["Added user rules (see 'ufw status' for running firewall):", *added],
        "tuples": [line for rule in rules for line in ufw.expected_tuples(rule)],
        "default_ufw": {"text": DEFAULT_UFW, "mode": "0644"},
        "ufw_conf": {"text": "ENABLED=yes\nLOGLEVEL=low\n", "mode": "0644"},
        "after_rules": {"text": after + "\n", "mode": "0640"},
        "live_chain": (
            "-N DOCKER-USER\n-A DOCKER-USER -m comment --comment cariflex-firewall -j RETURN"
        ),
    }


def descriptions(actions):
    return [a[2] if a[0] == "run" else f"write {a[1]}" for a in actions]


def test_a_converged_firewall_gives_no_action() -> None:
    actions, result = ufw.plan(params(), converged())
    assert actions == []
    assert result["rules_added"] == [] and result["rules_removed"] == []


def test_a_missing_rule_is_added_with_its_name_as_comment() -> None:
    state = converged()
    state["tuples"] = [t for t in state["tuples"] if "cf ssh" not in t]
    actions, result = ufw.plan(params(), state)
    assert result["rules_added"] == ["cf ssh 10.8.0.0/24 22/tcp"]
    assert actions[0][1] == [
        "ufw", "allow", "proto", "tcp", "from", "10.8.0.0/24", "to", "any", "port", "22",
        "comment", "cf ssh 10.8.0.0/24 22/tcp",
    ]  # fmt: skip


def test_a_rule_from_anywhere_without_its_ipv6_half_is_added_again() -> None:
    state = converged()
    state["tuples"] = [t for t in state["tuples"] if not ("443" in t and "::/0" in t)]
    actions, result = ufw.plan(params(), state)
    assert result["rules_added"] == ["cf public any 443/tcp"]
    assert actions[0][1][:6] == ["ufw", "allow", "proto", "tcp", "from", "any"]


def test_a_rule_that_differs_in_port_is_added_and_the_old_one_removed() -> None:
    state = converged()
    state["tuples"] = [t.replace(" 22 ", " 2222 ") for t in state["tuples"]]
    state["added"][-1] = (
        state["added"][-1]
        .replace("port 22", "port 2222")
        .replace("cf ssh 10.8.0.0/24 22/tcp", "cf ssh 10.8.0.0/24 2222/tcp")
    )
    actions, result = ufw.plan(params(), state)
    assert result["rules_added"] == ["cf ssh 10.8.0.0/24 22/tcp"]
    assert result["rules_removed"] == [state["added"][-1]]
    assert actions[1][1] == ["ufw", "delete", "allow", "from", "10.8.0.0/24", "to", "any",
                             "port", "2222", "proto", "tcp"]  # fmt: skip


def test_undeclared_rules_are_removed_unless_purge_is_off() -> None:
    state = converged()
    state["added"] += ["ufw allow 8080/tcp", "ufw route allow in on eth0 out on docker0"]
    actions, result = ufw.plan(params(), state)
    assert [a[1] for a in actions] == [
        ["ufw", "delete", "allow", "8080/tcp"],
        ["ufw", "route", "delete", "allow", "in", "on", "eth0", "out", "on", "docker0"],
    ]
    assert len(result["rules_removed"]) == 2
    assert ufw.plan(params(purge=False), state)[0] == []


def test_policies_and_logging_are_set_only_where_they_differ() -> None:
    state = converged()
    state["default_ufw"]["text"] = DEFAULT_UFW.replace(
        'INPUT_POLICY="DROP"', 'INPUT_POLICY="ACCEPT"'
    )
    state["ufw_conf"]["text"] = "LOGLEVEL=off\n"
    actions, _result = ufw.plan(params(), state)
    assert [a[1] for a in actions] == [
        ["ufw", "default", "deny", "incoming"],
        ["ufw", "logging", "on"],
    ]


def test_builtins_and_after_rules_are_written_then_an_active_ufw_reloads() -> None:
    state = converged()
    state["default_ufw"]["text"] = DEFAULT_UFW.replace("MANAGE_BUILTINS=no", "MANAGE_BUILTINS=yes")
    state["after_rules"]["text"] = state["after_rules"]["text"].replace("-j RETURN", "-j DROP")
    actions, _result = ufw.plan(params(), state)
    assert descriptions(actions) == [
        "write /etc/default/ufw",
        "write /etc/ufw/after.rules",
        "reload UFW (settings or after.rules changed)",
    ]
    assert "MANAGE_BUILTINS=no" in actions[0][2] and "MANAGE_BUILTINS=yes" not in actions[0][2]
    written = actions[1][2]
    assert written.startswith("# rules.input-after\n*filter\nCOMMIT\n# BEGIN cariflex-firewall")
    assert written.count("# BEGIN cariflex-firewall") == 1 and "-j DROP" not in written
    assert actions[1][4] == BLOCK  # the block is what iptables-restore --test gets


def test_after_rules_without_the_block_get_it_appended_and_a_wrong_mode_rewritten() -> None:
    state = converged()
    state["after_rules"] = {"text": "*filter\nCOMMIT\n", "mode": "0640"}
    written = ufw.plan(params(), state)[0][0][2]
    assert written.startswith("*filter\nCOMMIT\n# BEGIN") and written.endswith(
        "# END cariflex-firewall: DOCKER-USER\n"
    )
    state = converged()
    state["after_rules"]["mode"] = "0644"
    assert descriptions(ufw.plan(params(), state)[0])[0] == "write /etc/ufw/after.rules"


def test_an_inactive_ufw_is_enabled_last() -> None:
    state = converged()
    state["status"] = "Status: inactive"
    state["tuples"] = []
    actions, _result = ufw.plan(params(), state)
    assert descriptions(actions)[-1] == "enable UFW"
    assert [a[1][1] for a in actions[:-1]] == ["allow", "allow", "allow"]


def test_a_flushed_live_chain_reloads_ufw() -> None:
    state = converged()
    state["live_chain"] = "-N DOCKER-USER"
    assert descriptions(ufw.plan(params(), state)[0]) == [
        "reload UFW (DOCKER-USER holds 0 of 1 rules)"
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "x", "port": "70000"}, "is not a port"),
        ({"name": "x", "port": "90:80"}, "is not a port"),
        ({"name": "x", "from": "10.0.0.300/8"}, "is not an address"),
        ({"name": "x", "proto": "any", "port": "53"}, "needs proto tcp or udp"),
        ({"name": "x'; reboot"}, "a name is"),
        ({"name": "cf public any 443/tcp"}, "declared twice"),
    ],
)
def test_bad_rules_are_refused(rule, message) -> None:
    with pytest.raises(ufw.Refused, match=message):
        ufw.plan(params(rules=[*RULES, rule]), converged())


@pytest.mark.parametrize(
    ("address", "port", "kept_by"),
    [
        ("10.8.0.7", 22, ["cf ssh 10.8.0.0/24 22/tcp"]),
        ("172.29.3.4", 2222, ["cf internal 172.29.0.0/16"]),  # every port from there
    ],
)
def test_keep_open_names_the_rules_that_let_ansible_in(address, port, kept_by) -> None:
    _actions, result = ufw.plan(params(keep_open={"address": address, "port": port}), converged())
    assert result["kept_open_by"] == kept_by


@pytest.mark.parametrize(
    ("address", "port"), [("192.0.2.9", 22), ("10.8.0.7", 2222), ("2001:db8::1", 22)]
)
def test_a_state_that_locks_ansible_out_is_refused(address, port) -> None:
    with pytest.raises(ufw.Refused, match=f"connected from {address}"):
        ufw.plan(params(keep_open={"address": address, "port": port}), converged())
    # With incoming allowed, nothing locks it out.
    policies = {"incoming": "allow", "outgoing": "allow", "routed": "deny"}
    ufw.plan(params(keep_open={"address": address, "port": port}, policies=policies), converged())


def test_a_port_range_and_an_ipv6_source() -> None:
    rules = [{"name": "range", "from": "2001:db8::/32", "port": "8000:8100", "proto": "udp"}]
    checked = ufw.checked_rules(rules)
    assert ufw.expected_tuples(checked[0]) == [
        "tuple allow udp 8000:8100 ::/0 any 2001:db8::/32 in comment=range"
    ]
    state = {**converged(), "tuples": ufw.expected_tuples(checked[0])}
    # udp does not carry SSH: the range lets 2001:db8::5 in for nothing Ansible needs.
    with pytest.raises(ufw.Refused, match="connected from 2001:db8::5 to port 8050/tcp"):
        ufw.plan(params(rules=rules, keep_open={"address": "2001:db8::5", "port": 8050}), state)
    rules[0]["proto"] = "tcp"
    result = ufw.plan(
        params(rules=rules, keep_open={"address": "2001:db8::5", "port": 8050}), state
    )[1]
    assert result["kept_open_by"] == ["range"]


def test_user_rules_tuples_are_read_with_their_comment_decoded() -> None:
    text = (
        "### tuple ### allow tcp 22 0.0.0.0/0 any 10.8.0.0/24 in comment="
        + b"cf ssh".hex()
        + "\n-A ufw-user-input -p tcp --dport 22 -s 10.8.0.0/24 -j ACCEPT\n"
    )
    assert ufw.parse_tuples(text) == [
        "tuple allow tcp 22 0.0.0.0/0 any 10.8.0.0/24 in comment=cf ssh"
    ]


def test_a_block_iptables_refuses_leaves_after_rules_as_it_was(tmp_path) -> None:
    path = tmp_path / "after.rules"
    path.write_text("old\n")
    fed = []

    def refusing(argv, data=None):
        fed.append((argv, data))
        return 2, "", "iptables-restore: line 3 failed"

    with pytest.raises(ufw.Refused, match="line 3 failed"):
        ufw.write_file(refusing, str(path), "new\n", "0640", BLOCK)
    assert path.read_text() == "old\n"
    assert fed == [(["iptables-restore", "--test"], BLOCK)]
    ufw.write_file(lambda argv, data=None: (0, "", ""), str(path), "new\n", "0640", BLOCK)
    assert path.read_text() == "new\n" and oct(path.stat().st_mode & 0o777) == "0o640"


def test_documentation_mirrors_the_argument_spec() -> None:
    import yaml

    def compare(documented: dict, spec: dict, where: str) -> None:
        assert set(documented) == set(spec), where
        for name, option in spec.items():
            doc = documented[name]
            for key in ("type", "default", "choices", "elements"):
                assert doc.get(key) == option.get(key), f"{where}{name}.{key}"
            assert bool(doc.get("required")) == bool(option.get("required")), f"{where}{name}"
            if "options" in option:
                compare(doc["suboptions"], option["options"], f"{where}{name}.")

    compare(yaml.safe_load(ufw.DOCUMENTATION)["options"], ufw.ARGUMENT_SPEC, "")
    assert set(yaml.safe_load(ufw.RETURN)) >= {"changes", "rules_added", "installed"}
    assert yaml.safe_load(ufw.EXAMPLES)


@pytest.mark.parametrize(
    ("source", "kept"),
    [
        ("198.51.100.7/32", "198.51.100.7"),
        ("2001:db8::7/128", "2001:db8::7"),
        ("10.1.2.3/8", "10.0.0.0/8"),
    ],
)
def test_sources_are_compared_as_ufw_keeps_them(source, kept) -> None:
    # UFW drops a host's /32 or /128 and keeps a network by its network address; compared as
    # given, a converged host would add its rules again on every run.
    rule = ufw.checked_rules([{"name": "ssh", "from": source, "port": "22"}])[0]
    assert ufw.expected_tuples(rule)[0].split()[6] == kept
