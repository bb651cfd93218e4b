"""The sshd-keys lab end to end on the real engine, through the real `labs` command.

Broken → key login, password refusal and key-file safety fail → the reference
solution passes and is idempotent; two other valid repairs (keys moved to
/etc/ssh/authorized_keys/%u; modes fixed and the Match block turned around) pass;
every shortcut fails.
"""

from __future__ import annotations

import pytest
from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "sshd-keys"
RESTART_SSHD = "sshd -t && { pkill -x sshd; sleep 0.5; /usr/sbin/sshd -E /var/log/sshd.log; }"


@pytest.fixture
def flow(labs, lab_instance, instance_name):
    return LabDriver(labs, LAB, instance_name, lab_instance)


def test_keys_moved_out_of_home_pass(flow):
    flow.alternative_passes([("server", (
        "install -d -m 755 /etc/ssh/authorized_keys && install -m 644 /home/deploy/.ssh/authorized_keys /etc/ssh/authorized_keys/deploy && "
        "sed -i '/^# MIG-311/,$d' /etc/ssh/sshd_config && "
        "sed -i 's|^#AuthorizedKeysFile.*|AuthorizedKeysFile /etc/ssh/authorized_keys/%u|' /etc/ssh/sshd_config && " + RESTART_SSHD
    ))])


def test_modes_fixed_and_match_block_turned_around_pass(flow):
    flow.alternative_passes([("server", (
        "chmod 750 /home/deploy && chmod 700 /home/deploy/.ssh && chown deploy:deploy /home/deploy/.ssh/authorized_keys && "
        "chmod 644 /home/deploy/.ssh/authorized_keys && "
        "sed -i -e 's/^    PasswordAuthentication yes$/    PasswordAuthentication no/' -e 's/^    PubkeyAuthentication no$/    PubkeyAuthentication yes/' "
        "/etc/ssh/sshd_config && " + RESTART_SSHD
    ))])


