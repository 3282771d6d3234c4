"""Shared prompt prefill (prover.policy.prefill): the same tokens and the same gradients as running every
row's prompt on its own, against the real SmolLM2-135M.

Equality is the behaviour under test; that it is faster is measured by bench/train_step.py, not here.
"""

from __future__ import annotations

import pytest
import torch

from prover.policy.prefill import applies, distinct_rows, generate_shared_prefill, shared_prefix_logps


def test_distinct_rows_keeps_first_occurrence_order():
    ids = torch.tensor([[0, 5, 6], [1, 2, 3], [0, 5, 6], [1, 2, 3], [1, 2, 4]])
    mask = torch.tensor([[0, 1, 1], [1, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1]])
    first, inverse = distinct_rows(ids, mask)
    assert first.tolist() == [0, 1, 4]
    assert inverse.tolist() == [0, 1, 0, 1, 2]
    # the same ids with another mask are another prompt
    first, inverse = distinct_rows(ids[:2].repeat(1, 1), torch.tensor([[1, 1, 1], [1, 1, 1]]))
    assert first.tolist() == [0, 1]


def test_applies_only_to_left_padded_batches_without_a_prefix_of_their_own():
    ids = torch.ones((4, 6), dtype=torch.long)
    left = torch.tensor([[0, 0, 1, 1, 1, 1]] * 4)
    right = torch.tensor([[1, 1, 1, 1, 0, 0]] * 4)
    assert applies(ids, left, {})
    assert not applies(ids, right, {}), "a right-padded row's last token is padding"
    assert not applies(ids, left, {"cache": object()})
    assert not applies(ids, left, {"inputs_embeds": torch.zeros(1)})
    assert not applies(ids[:, :1], left[:, :1], {}), "a one-token prompt has nothing to prefill"
    assert not applies(ids, None, {})


@pytest.fixture(scope="module")
def model_and_tokenizer():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prover.policy.embedded import resolve_model

    path = resolve_model("embedded:smollm2-135m")
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tok


def _batch(tok, groups=(("theorem t (a b : Nat) (h0 : a < b) : a + 3 ≤ b + 2 := by", 3),
                        ("Prove 2 + 2 = 4 in Lean 4.", 2), ("Say hello.", 1))):
    texts = [tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True)
             for t, n in groups for _ in range(n)]
    order = [0, 3, 1, 5, 4, 2] if len(texts) == 6 else list(range(len(texts)))  # copies need not be adjacent
    enc = tok([texts[i] for i in order], return_tensors="pt", padding=True)
    return enc.input_ids, enc.attention_mask


@pytest.mark.model
@pytest.mark.parametrize("sample", [False, True])
def test_generate_with_shared_prefill_gives_the_same_tokens(model_and_tokenizer, sample):
    model, tok = model_and_tokenizer
    ids, mask = _batch(tok)
    kw = dict(max_new_tokens=24, do_sample=sample, pad_token_id=tok.pad_token_id)
    if sample:
        kw.update(temperature=0.9, top_p=1.0, top_k=0)
    torch.manual_seed(7)
    plain = model.generate(input_ids=ids, attention_mask=mask, **kw)
    prefills = []
    handle = model.get_input_embeddings().register_forward_pre_hook(lambda m, a: prefills.append(tuple(a[0].shape)))
    try:
        torch.manual_seed(7)
        shared = generate_shared_prefill(model, model.generate, input_ids=ids, attention_mask=mask, **kw)
    finally:
        handle.remove()
    assert torch.equal(plain, shared)
    # the prompt ran once per distinct prompt (3 rows, all tokens but the last), then one token per row and step
    assert prefills[0] == (3, ids.shape[1] - 1)
    assert prefills[1] == (6, 1)


@pytest.mark.model
def test_generate_falls_back_when_no_prompt_repeats(model_and_tokenizer):
    model, tok = model_and_tokenizer
    ids, mask = _batch(tok, groups=(("One.", 1), ("Two, longer.", 1)))
    calls = []

    def generate(*a, **k):
        calls.append(k)
        return model.generate(*a, **k)

    generate_shared_prefill(model, generate, input_ids=ids, attention_mask=mask, max_new_tokens=2, do_sample=False,
                            pad_token_id=tok.pad_token_id)
    assert calls and "cache" not in calls[0]


@pytest.mark.model
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
def test_shared_prefix_logps_match_trl_forward_and_gradients(model_and_tokenizer, bf16):
    """The loss's log-probs, entropies and gradients equal TRL's per-row forward pass (fused LM head), in fp32
    and under the bf16 autocast of grpo.precision bf16 (auto on a CPU with bf16 instructions)."""
    import contextlib
    import copy

    from trl.trainer.utils import add_fused_lm_head

    base, _ = model_and_tokenizer
    model = copy.deepcopy(base)
    model.train()
    add_fused_lm_head(model, temperature=0.7, cast_lm_head_to_fp32=False, outputs=("log_probs", "entropy"))
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(5, 2000, (n,), generator=g) for n in (60, 41)]
    width, comp = 60, 12
    rows, masks = [], []
    for p in prompts:
        for k in range(3):
            pr = torch.cat([torch.full((width - len(p),), 2), p])
            pm = torch.cat([torch.zeros(width - len(p)), torch.ones(len(p))])
            cm = torch.ones(comp)
            cm[comp - 2 - 3 * k:] = 0  # completions of different lengths (right padding)
            rows.append(torch.cat([pr, torch.randint(5, 2000, (comp,), generator=g)]))
            masks.append(torch.cat([pm, cm]))
    order = torch.tensor([0, 3, 1, 4, 2, 5])
    ids, mask = torch.stack(rows).long()[order], torch.stack(masks).long()[order]

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def trl_forward():
        labels = ids.masked_fill(mask == 0, -100)
        labels[:, :-comp] = -100
        with autocast():
            out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        return out.log_probs[:, -comp:], out.entropy[:, -comp:]

    results = []
    for forward in (trl_forward, lambda: shared_prefix_logps(model, ids, mask, comp, compute_entropy=True,
                                                              batch_size=3, autocast=autocast)):
        model.zero_grad()
        logps, ent = forward()
        ((logps * mask[:, -comp:]).sum() / mask[:, -comp:].sum()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((logps.detach() * mask[:, -comp:], ent.detach() * mask[:, -comp:], grads))
    (lp_a, ent_a, gr_a), (lp_b, ent_b, gr_b) = results
    assert gr_a.keys() == gr_b.keys() and gr_a

    def worst_rel(x: dict, y: dict) -> float:  # every parameter's gradient, the embeddings (prompt tokens) included
        return max(((x[n] - y[n]).norm() / (y[n].norm() + 1e-12)).item() for n in y)

    if not bf16:
        assert torch.allclose(lp_a, lp_b, atol=1e-4)
        assert torch.allclose(ent_a, ent_b, atol=1e-4)
        assert worst_rel(gr_b, gr_a) < 1e-3
        return
    # bf16 rounds differently when the prompt's keys and values come from a cache: the shared path may differ from
    # TRL's per-row pass only by bf16 rounding, i.e. by no more than TRL's bf16 pass differs from its fp32 pass
    bf16 = False
    model.zero_grad()
    lp32, _ = trl_forward()
    ((lp32 * mask[:, -comp:]).sum() / mask[:, -comp:].sum()).backward()
    gr32 = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    lp32 = lp32.detach() * mask[:, -comp:]
    rounding = (lp32 - lp_a).abs().mean().item()
    assert 0 < rounding < 0.1
    assert (lp_b - lp_a).abs().mean().item() <= 1.5 * rounding
    assert (ent_b - ent_a).abs().mean().item() < 0.1
    assert worst_rel(gr_b, gr_a) <= max(1.5 * worst_rel(gr32, gr_a), 1e-3)


def test_shared_prefix_logps_declines_when_nothing_is_shared():
    ids = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    mask = torch.ones_like(ids)
    assert shared_prefix_logps(None, ids, mask, 2, compute_entropy=False) is None
    assert shared_prefix_logps(None, ids[:, :2], mask[:, :2], 1, compute_entropy=False) is None  # 1-token prompt
