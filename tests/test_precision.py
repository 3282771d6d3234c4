"""The precision rule of every trainer (prover/policy/precision.py): auto is bf16 mixed precision where the
hardware computes bf16 natively, fp32 elsewhere; a GPU's rule is unchanged."""

from __future__ import annotations

import pytest

from prover.config import ConfigError
from prover.policy import precision
from prover.policy.precision import cpu_native_bf16, precision_flags, resolve_precision

FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep avx avx2 avx512f avx512bw"


def _cpuinfo(tmp_path, flags: str, name: str = "cpuinfo"):
    path = tmp_path / name
    path.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: {flags}\n\nprocessor\t: 1\n"
                    f"flags\t\t: {flags}\n")
    return str(path)


def test_native_bf16_is_read_from_the_flags_line(tmp_path):
    assert not cpu_native_bf16(_cpuinfo(tmp_path, FLAGS, "avx512"))
    assert cpu_native_bf16(_cpuinfo(tmp_path, FLAGS + " avx512_bf16 avx512_vnni", "zen4"))
    assert cpu_native_bf16(_cpuinfo(tmp_path, FLAGS + " amx_tile amx_bf16", "sapphire"))
    # a flag that merely contains the text is not the flag; no flags line or no file: not native
    assert not cpu_native_bf16(_cpuinfo(tmp_path, FLAGS + " xavx512_bf16x", "lookalike"))
    (tmp_path / "empty").write_text("processor\t: 0\n")
    assert not cpu_native_bf16(str(tmp_path / "empty"))
    assert not cpu_native_bf16(str(tmp_path / "missing"))


@pytest.fixture
def cpu_only(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return monkeypatch


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_cpu_follows_the_instructions(cpu_only, native):
    cpu_only.setattr(precision, "cpu_native_bf16", lambda: native)
    assert resolve_precision("auto") == ("bf16" if native else "fp32")
    assert precision_flags("auto") == {"bf16": native, "fp16": False}
    assert precision_flags("fp32") == {"bf16": False, "fp16": False}


def test_explicit_values_on_cpu(cpu_only, caplog):
    cpu_only.setattr(precision, "cpu_native_bf16", lambda: False)
    with caplog.at_level("WARNING"):
        assert precision_flags("bf16", "grpo.precision") == {"bf16": True, "fp16": False}
    assert "grpo.precision=bf16" in caplog.text and "emulated" in caplog.text
    with pytest.raises(ConfigError, match=r"sft.precision=fp16 needs a GPU; use fp32, bf16 or auto"):
        precision_flags("fp16", "sft.precision")
    with pytest.raises(ConfigError, match=r"grpo.precision='fp8': use one of auto, fp32, bf16, fp16"):
        precision_flags("fp8", "grpo.precision")


@pytest.mark.parametrize("supported", [True, False])
def test_auto_on_a_gpu_is_unchanged(monkeypatch, supported):
    """A GPU run computes what it always did: bf16 where the GPU supports it, whatever the CPU has."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: not supported)
    assert resolve_precision("auto") == ("bf16" if supported else "fp32")
    assert precision_flags("fp16") == {"bf16": False, "fp16": True}



@pytest.mark.slow
@pytest.mark.model
def test_precision_bench_end_to_end():
    import re
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import precision as bench

    lines: list[str] = []
    last = bench.main(["--rounds", "1", "--rows", "2", "--tokens", "8"], say=lines.append)
    assert lines[-1] == last
    assert re.fullmatch(r"bf16 autocast speed-up: \d+\.\d\dx full-model step, \d+\.\d\dx LoRA step "
                        r"\(native bf16: (yes|no); auto picks (bf16|fp32)\)", last), last
    assert ("native bf16: yes" in last) == cpu_native_bf16()
    assert ("picks bf16" in last) == (resolve_precision("auto") == "bf16")
    assert any(line.startswith("full-model step: fp32") for line in lines)
