"""`helpdesk actions import|export` as operators run them: a real process, a real database."""

import yaml

import pytest

from bot.cli.actions import SAMPLE_ACTIONS
from tests.integration.test_cli import run

pytestmark = pytest.mark.integration


@pytest.fixture()
def env(tmp_path, models_dir):
    return {"HELPDESK_DATA_DIR": str(tmp_path / "data"), "HELPDESK_MODELS_DIR": str(models_dir)}


def test_import_reports_bad_actions_keeps_good_ones_and_exports_them_back(tmp_path, env):
    source = tmp_path / "actions.yaml"
    declared = yaml.safe_load(SAMPLE_ACTIONS.read_text())["actions"]
    broken = {"name": "action_broken", "examples": ["x"], "slots": [{"name": "when", "prompt": "When?",
                                                                      "type": "colour"}]}
    source.write_text(yaml.safe_dump({"actions": [declared[0], broken, declared[1]]}))
    result = run(["actions", "import", str(source)], env)
    assert result.returncode == 1, result.stderr
    assert "actions.yaml action 2: Action 'action_broken', slots[0] (when): `type` 'colour' is not one of" \
        in result.stderr
    assert "2 created, 0 updated, 0 unchanged, 1 rejected." in result.stdout

    exported = tmp_path / "export.yaml"
    assert run(["actions", "export", str(exported)], env).returncode == 0
    back = yaml.safe_load(exported.read_text())["actions"]
    assert [action["name"] for action in back] == ["action_cancel_order", "action_order_status"]
    status = next(action for action in back if action["name"] == "action_order_status")
    assert status["slots"] == [{**slot, "type": slot.get("type", "text")} for slot in declared[0]["slots"]]

    again = run(["actions", "import", str(exported)], env)  # round trip: nothing changes
    assert again.returncode == 0 and "0 created, 0 updated, 2 unchanged, 0 rejected." in again.stdout


def test_an_unreadable_file_fails_clearly(tmp_path, env):
    path = tmp_path / "actions.yaml"
    path.write_text("actions: {not: [a list")
    result = run(["actions", "import", str(path)], env)
    assert result.returncode == 1 and "cannot be read as YAML" in result.stderr
