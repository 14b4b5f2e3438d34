# The test harness's connection: community.docker's docker_api, with one change.
# Derived from community.docker's plugins/connection/docker_api.py,
# Copyright (c) 2019-2020, Felix Fontein <felix@fontein.de>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Before copying a file into the container, docker_api runs `id -u && id -g` there once per
# connection. On a machine under load the Docker API sometimes hands back that exec's output
# empty, and the task fails with "Error while determining user and group ID ... Got value: b''"
# although nothing is wrong with the host. This plugin asks again, a few times, before giving up
# the same way. The same empty answer to the command that makes a task's temporary directory
# ("Failed to create temporary directory") is asked again too, with `mkdir -p` for the task's own
# directory, which the first try may have made. Only the Molecule scenarios use it; the
# collection itself does not.

from __future__ import annotations

import time

from ansible.utils.display import Display
from ansible_collections.community.docker.plugins.connection.docker_api import (
    Connection as DockerApiConnection,
)

display = Display()

DOCUMENTATION = r"""
author:
  - Felix Fontein (@felixfontein)
name: cariflex_docker_api
short_description: community.docker.docker_api that asks again for the user and group id
version_added: 1.1.0
description:
  - Run commands or put/fetch files to an existing docker container.
  - Uses the L(requests library,https://pypi.org/project/requests/) to interact directly with the
    Docker daemon instead of
    using the Docker CLI. Use the P(community.docker.docker#connection) connection plugin if you
    want to use the Docker CLI.
notes:
  - Does B(not work with TCP TLS sockets)! This is caused by the inability to send C(close_notify)
    without closing the connection
    with Python's C(SSLSocket)s. See U(https://github.com/ansible-
    collections/community.docker/issues/605) for more information.
extends_documentation_fragment:
  - community.docker.docker.api_documentation
  - community.docker.docker.var_names
options:
  remote_user:
    type: str
    description:
      - The user to execute as inside the container.
    vars:
      - name: ansible_user
      - name: ansible_docker_user
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    cli:
      - name: user
    keyword:
      - name: remote_user
  remote_addr:
    type: str
    description:
      - The name of the container you want to access.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_docker_host
  container_timeout:
    default: 10
    description:
      - Controls how long we can wait to access reading output from the container once execution
        started.
    env:
      - name: ANSIBLE_TIMEOUT
      - name: ANSIBLE_DOCKER_TIMEOUT
        version_added: 2.2.0
    ini:
      - key: timeout
        section: defaults
      - key: timeout
        section: docker_connection
        version_added: 2.2.0
    vars:
      - name: ansible_docker_timeout
        version_added: 2.2.0
    cli:
      - name: timeout
    type: integer
  extra_env:
    description:
      - Provide extra environment variables to set when running commands in the Docker container.
      - This option can currently only be provided as Ansible variables due to limitations of
        ansible-core's configuration
        manager.
    vars:
      - name: ansible_docker_extra_env
    type: dict
    version_added: 3.12.0
  working_dir:
    description:
      - The directory inside the container to run commands in.
      - Requires Docker API version 1.35 or later.
    env:
      - name: ANSIBLE_DOCKER_WORKING_DIR
    ini:
      - key: working_dir
        section: docker_connection
    vars:
      - name: ansible_docker_working_dir
    type: string
    version_added: 3.12.0
  privileged:
    description:
      - Whether commands should be run with extended privileges.
      - B(Note) that this allows command to potentially break out of the container. Use with care!
    env:
      - name: ANSIBLE_DOCKER_PRIVILEGED
    ini:
      - key: privileged
        section: docker_connection
    vars:
      - name: ansible_docker_privileged
    type: boolean
    default: false
    version_added: 3.12.0
"""


# ansible-core's shell plugin: mkdir -p the base directory, mkdir the task's own, echo its path.
TMP_MARKER = "echo ansible-tmp-"
TMP_MKDIR = '&& mkdir "'


class Connection(DockerApiConnection):
    transport = "cariflex_docker_api"

    def exec_command(self, cmd, in_data=None, sudoable=False):
        rc, out, err = super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        text = cmd if isinstance(cmd, str) else cmd.decode(errors="replace")
        if rc != 0 or out.strip() or TMP_MARKER not in text or TMP_MKDIR not in text:
            return rc, out, err
        again = text.replace(TMP_MKDIR, '&& mkdir -p "')
        for attempt in range(5):
            display.vvv(f"temporary directory's path read back as {out!r}; asking again")
            time.sleep(0.5 * (attempt + 1))
            rc, out, err = super().exec_command(again, in_data=in_data, sudoable=sudoable)
            if rc != 0 or out.strip():
                break
        return rc, out, err

    def put_file(self, in_path, out_path):
        if self.actual_user not in self.ids:
            for attempt in range(6):
                _rc, ids, _err = self.exec_command(b"id -u && id -g")
                words = ids.split()
                if len(words) == 2 and all(word.isdigit() for word in words):
                    self.ids[self.actual_user] = int(words[0]), int(words[1])
                    break
                display.vvv(f"user and group ID read back as {ids!r}; asking again")
                time.sleep(0.5 * (attempt + 1))
        super().put_file(in_path, out_path)
