"""The `helpdesk` command, run as customers run it: a real process with a real environment."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

HELPDESK = [sys.executable, "-m", "bot.cli"]


def run(args, env_extra, stdin: str | None = None, timeout: int = 300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **env_extra}
    return subprocess.run(HELPDESK + args, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def env(tmp_path, models_dir):
    return {"HELPDESK_DATA_DIR": str(tmp_path / "data"), "HELPDESK_MODELS_DIR": str(models_dir)}


def test_import_reports_bad_rows_keeps_good_ones_and_exports_every_format(tmp_path, env):
    source = tmp_path / "faqs.csv"
    source.write_text(
        "question,answer,alt_questions,tags\n"
        "Where is my order?,Track it in the app.,order status? | where's my parcel,orders\n"
        ",An answer without a question,,\n"
        "Do you ship to Canada?,Not yet.,,shipping\n"
    )
    result = run(["faq", "import", str(source)], env)
    assert result.returncode == 1  # a rejected row is an error the operator must see...
    assert "faqs.csv row 2: `question` must not be empty." in result.stderr
    assert "2 created, 0 updated, 0 unchanged, 1 rows rejected." in result.stdout  # ...but good rows land

    for suffix in ("csv", "json", "yaml"):
        out = tmp_path / f"export.{suffix}"
        assert run(["faq", "export", str(out)], env).returncode == 0
    exported = json.loads((tmp_path / "export.json").read_text())
    assert [row["question"] for row in exported] == ["Where is my order?", "Do you ship to Canada?"]
    assert exported[0]["alt_questions"] == ["order status?", "where's my parcel"]
    assert yaml.safe_load((tmp_path / "export.yaml").read_text()) == exported

    again = run(["faq", "import", str(tmp_path / "export.csv")], env)  # round trip: nothing new
    assert "0 created, 0 updated, 2 unchanged, 0 rows rejected." in again.stdout


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("faqs.txt", "hello", "unsupported file type"), ("faqs.json", "{not json", "cannot parse"),
     ("faqs.csv", "q,a\nx,y\n", "missing column(s) answer, question"), ("missing.yaml", None, "no such file")],
)
def test_unreadable_import_files_fail_clearly(tmp_path, env, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = run(["faq", "import", str(path)], env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_stops_start_up_with_a_clear_message(env):
    result = run(["faq", "export", "out.json"],
                 {**env, "HELPDESK_DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:9/helpdesk"})
    assert result.returncode == 1
    assert "Cannot reach the database at postgresql+psycopg://nobody:***@127.0.0.1:9/helpdesk" in result.stderr
    assert "HELPDESK_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_lm_folder_is_named_in_the_error(env, tmp_path):
    result = run(["chat"], {**env, "HELPDESK_LM_MODEL": str(tmp_path / "no-such-model")}, stdin="")
    assert result.returncode == 1
    assert f"points at the folder {tmp_path / 'no-such-model'}, which does not exist" in result.stderr


def test_terminal_chat_uses_the_same_engine_and_remembers_the_customer(env):
    bot_dir = Path(__file__).resolve().parents[2] / "bot" / "sample" / "faqs.yaml"
    assert run(["faq", "import", str(bot_dir)], env).returncode == 0
    result = run(["chat", "--sender", "cli-tester"], env,
                 stdin="My name is Zoe\nWhat is the return policy for devices?\n\n")
    assert result.returncode == 0, result.stderr
    assert "bot (action)> Nice to meet you, Zoe!" in result.stdout
    assert "bot (faq)> " in result.stdout and "How do I return a device?" in result.stdout
    assert "(not sent: `message` is empty" in result.stdout
    later = run(["chat", "--sender", "cli-tester"], env, stdin="what's my name?\n")
    assert "Your name is Zoe." in later.stdout


def test_terminal_chat_numbers_the_suggestions_and_a_number_chooses_one(env):
    sample = Path(__file__).resolve().parents[2] / "bot" / "sample" / "faqs.yaml"
    assert run(["faq", "import", str(sample)], env).returncode == 0
    unsure = "My thermostat won't turn on any more after a year, how do I get it fixed?"
    shown = run(["chat", "--sender", "cli-chooser"], env, stdin=f"{unsure}\n")
    assert shown.returncode == 0, shown.stderr
    assert "bot (fallback)> I'm not sure I understood. Is your question one of these?" in shown.stdout
    number = re.search(r"\n\s+(\d)\) How do I make a warranty claim\?", shown.stdout).group(1)
    assert re.search(r"\n\s+\d\) Talk to a person", shown.stdout)
    chosen = run(["chat", "--sender", "cli-chooser"], env, stdin=f"{unsure}\n{number}\n")
    assert "bot (faq)> Open the device in the Nimbus app and go to Settings > Get help" in chosen.stdout
