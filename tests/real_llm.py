"""A real OpenAI-compatible server for tests: Hugging Face's `transformers serve`.

It serves a tiny Llama built here (no download): a byte-level BPE tokenizer trained on
one sentence, and weights set by hand so that greedy or sampled decoding says that
sentence over and over ("Blue skies make me happy, dear chat."). Every token's
embedding is one-hot, the layer adds nothing, and the output head maps each token to
the next one of the sentence, so the logits gap is large enough for any temperature.
``max_position_embeddings`` is the model's context: a longer prompt gets the server's
own HTTP 400, as a small local model does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SENTENCE = " Blue skies make me happy, dear chat."


def build_model(out: Path, context: int) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([SENTENCE * 50], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant:{% endif %}"
    )
    fast.save_pretrained(out)
    ids = fast.encode(SENTENCE, add_special_tokens=False)
    assert len(set(ids)) == len(ids), "the sentence's tokens must differ: pick another"
    vocab = len(fast)
    hidden = vocab + vocab % 2
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=4, num_hidden_layers=1,
        num_attention_heads=1, num_key_value_heads=1, head_dim=hidden,
        max_position_embeddings=context, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=False,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    following = {t: ids[0] for t in range(vocab)}
    following.update(zip(ids, ids[1:] + ids[:1], strict=True))
    with torch.no_grad():
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[:, :vocab] = torch.eye(vocab)
        model.model.layers[0].self_attn.o_proj.weight.zero_()
        model.model.layers[0].mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        for token, nxt in following.items():
            model.lm_head.weight[nxt, token] = 10.0
    model.save_pretrained(out, safe_serialization=True)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command() -> list[str] | None:
    """`transformers serve`, if it and its server extras are installed."""
    exe = shutil.which("transformers", path=os.path.dirname(sys.executable))
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return None
    return [exe, "serve"] if exe else None


@contextmanager
def transformers_serve(model: Path, log: Path) -> Iterator[str]:
    """Run the server on a free loopback port until the block ends; yields its /v1 URL."""
    cmd = serve_command()
    assert cmd is not None, "transformers serve is not installed (pip install -e '.[dev]')"
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*cmd, str(model), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:  # no event to wait on: the server says nothing until it listens
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    why = f"transformers serve did not start: {log.read_text()}"
                    raise AssertionError(why) from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
