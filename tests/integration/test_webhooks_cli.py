"""`helpdesk webhooks`, run as an operator runs it: a real process over a real (SQLite) database."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def run(args, env):
    return subprocess.run([sys.executable, "-m", "bot.cli", "webhooks", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_webhooks_are_added_listed_paused_resumed_and_removed_from_the_command_line(tmp_path):
    env = {"HELPDESK_DATA_DIR": str(tmp_path / "data")}
    refused = run(["add", "ftp://crm.example.com/hook", "--event", "all"], env)
    assert refused.returncode == 1 and "url: must be an http:// or https:// URL" in refused.stderr
    unknown = run(["add", "https://crm.example.com/hook", "--event", "message.sent"], env)
    assert unknown.returncode == 2 and "message.sent" in unknown.stderr

    added = run(["add", "https://crm.example.com/hook", "--event", "conversation.handoff",
                 "--event", "feedback.received"], env)
    assert added.returncode == 0, added.stderr
    assert "Webhook 1 sends conversation.handoff, feedback.received to https://crm.example.com/hook." in added.stdout
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_") and len(secret) > 16

    assert "Paused webhook 1." in run(["pause", "1"], env).stdout
    assert "Resumed webhook 1: 0 deliveries to send." in run(["resume", "1"], env).stdout
    listed = run(["list"], env).stdout
    assert "   1  active  https://crm.example.com/hook" in listed and secret not in listed
    missing = run(["redeliver", "1", "5"], env)
    assert missing.returncode == 1 and "No delivery 5 of webhook subscription 1" in missing.stderr
    assert run(["remove", "1"], env).returncode == 0
    assert run(["list"], env).stdout == ""
