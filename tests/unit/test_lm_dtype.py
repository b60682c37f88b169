"""The transformers LM's precision: bf16 where the hardware multiplies it natively, fp32 elsewhere."""

import pytest

from core.devices import lm_dtype

pytestmark = pytest.mark.unit

ZEN4 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_tile amx_bf16 amx_int8\n"


def test_auto_is_bf16_on_a_gpu(tmp_path):
    assert lm_dtype("auto", "cuda", tmp_path / "absent") == ("bfloat16", "a GPU")


def test_auto_is_bf16_on_a_cpu_with_native_bf16(tmp_path):
    for flags, instruction in ((ZEN4, "avx512_bf16"), (SAPPHIRE_RAPIDS, "amx_bf16")):
        (tmp_path / "cpuinfo").write_text(flags)
        dtype, why = lm_dtype("auto", "cpu", tmp_path / "cpuinfo")
        assert dtype == "bfloat16" and instruction in why


def test_auto_is_fp32_on_a_cpu_without_it_or_without_cpuinfo(tmp_path):
    (tmp_path / "cpuinfo").write_text(SKYLAKE)
    assert lm_dtype("auto", "cpu", tmp_path / "cpuinfo")[0] == "float32"
    assert lm_dtype("auto", "cpu", tmp_path / "absent")[0] == "float32"


def test_a_setting_other_than_auto_is_kept_and_named(tmp_path):
    (tmp_path / "cpuinfo").write_text(ZEN4)
    assert lm_dtype("float32", "cpu", tmp_path / "cpuinfo") == ("float32", "HELPDESK_LM_DTYPE=float32")
    assert lm_dtype("bfloat16", "cpu", tmp_path / "absent") == ("bfloat16", "HELPDESK_LM_DTYPE=bfloat16")
