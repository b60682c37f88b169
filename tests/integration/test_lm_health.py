"""/health says which LM runtime writes the replies, on which device, and why (HELPDESK_LM_BACKEND=auto decides
at start: docs/generation.md)."""

import pytest

from core.devices import lm_dtype

pytestmark = pytest.mark.integration


def test_health_names_the_lm_backend_its_device_and_why(client):
    health = client.get("/health").json()
    assert (health["lm_backend"], health["lm_device"]) == ("transformers", "cpu")
    assert health["lm_backend_reason"] == "HELPDESK_LM_BACKEND=transformers, HELPDESK_DEVICE=cpu"
    assert "lm_compile_seconds" not in health  # the compiled one-reply step is for GPUs
    assert health["lm_dtype"] == lm_dtype("auto", "cpu")[0]  # bfloat16 where the CPU multiplies it natively


def test_health_says_the_embedded_lm_does_not_judge(client):
    # HELPDESK_JUDGEMENT=auto, the default, leaves the embedded SmolLM2-135M out (dialogue/judgement.py).
    assert client.get("/health").json()["judgement"] == {"active": False, "mode": "auto",
                                                         "steps": ["translate", "verify"], "verify_threshold": 0.6}
