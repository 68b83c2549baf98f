"""The GPU checks of bench/gpu_check.sh, each printing its figures or why it could not run.

Model: a random-init Llama (about 160M parameters: hidden 1024, 12 layers, vocabulary 8000)
with a tokenizer trained here on the demo world, so nothing is downloaded. MFU is 6 x parameters
x tokens/s over the GPU's dense bf16 peak (a table of known GPUs; unknown ones print no MFU).
"""

from __future__ import annotations

import json
import tempfile
import time
import traceback
from pathlib import Path

import torch

PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 125.0,
    "L4": 121.0,
    "4090": 165.0,
}
# Read by the cost plan (config costs.measured_mfu), relative to the repository root.
MEASURED_MFU = Path("results/bench/gpu_check.json")
ARCH = {
    "hidden_size": 1024,
    "num_hidden_layers": 12,
    "intermediate_size": 2816,
    "num_attention_heads": 16,
    "num_key_value_heads": 4,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": True,
}


def peak_flops() -> float | None:
    name = torch.cuda.get_device_name()
    return next((tf * 1e12 for key, tf in PEAK_BF16_TFLOPS.items() if key in name), None)


def build(folder: Path) -> tuple[Path, Path]:
    from handbook.demo_world import generate
    from handbook.modeling import init_llama, train_tokenizer

    world = folder / "world"
    generate(
        {
            "seed": 0,
            "n_towns": 40,
            "corpus_chars": 290000,
            "n_sft": 1500,
            "n_sft_test": 50,
            "n_pref": 1000,
            "n_pref_test": 50,
            "n_generation": 64,
            "n_eval": 50,
        },
        world,
    )
    texts = [json.loads(line)["text"] for line in (world / "corpus.jsonl").read_text().splitlines()]
    tokenizer = train_tokenizer(texts, 8000, model_max_length=2048)
    model = folder / "model"
    init_llama(tokenizer, ARCH, seed=0).save_pretrained(model)
    tokenizer.save_pretrained(model)
    return world, model


def check_bf16_and_flash_attention(model_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
    tflops = 20 * 2 * 4096**3 / (time.perf_counter() - start) / 1e12
    print(f"bf16 matmul 4096^2: {tflops:.0f} TFLOP/s ({torch.cuda.get_device_name()})")
    ids = torch.randint(0, 8000, (4, 512), device="cuda")
    outs = {}
    for impl in ("sdpa", "flash_attention_2"):
        model = AutoModelForCausalLM.from_pretrained(
            model_path, dtype=torch.bfloat16, attn_implementation=impl
        ).cuda()
        with torch.no_grad():
            outs[impl] = model(ids).logits.float()
    diff = (outs["sdpa"] - outs["flash_attention_2"]).abs().max().item()
    print(f"flash_attention_2 runs; max |logit difference| to sdpa: {diff:.3g}")


def train_throughput(method: str, model_path: Path, world: Path, out: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=torch.bfloat16, attn_implementation="flash_attention_2"
    )
    params = sum(p.numel() for p in model.parameters())
    common = dict(
        output_dir=str(out / method),
        bf16=True,
        max_steps=40,
        logging_steps=10,
        report_to="none",
        save_strategy="no",
        per_device_train_batch_size=32,
        gradient_checkpointing=False,
    )
    if method == "sft":
        data = load_dataset(
            "json", data_files=str(world / "sft/train.jsonl"), split="train"
        ).select_columns(["messages"])
        args = SFTConfig(**common, max_length=1024, packing=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    else:
        data = load_dataset(
            "json", data_files=str(world / "preference/train.jsonl"), split="train"
        ).select_columns(["chosen", "rejected"])
        args = DPOConfig(**common, max_length=512)
        trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    result = trainer.train()
    runtime = result.metrics["train_runtime"]
    tokens = next(
        (e["num_tokens"] for e in reversed(trainer.state.log_history) if "num_tokens" in e), None
    )
    line = (
        f"{method.upper()}: {result.metrics['train_samples_per_second']:.1f} samples/s, "
        f"{params / 1e6:.0f}M parameters"
    )
    if tokens:
        rate = tokens / runtime
        line += f", {rate:,.0f} tokens/s"
        peak = peak_flops()
        factor = 6 if method == "sft" else 8  # DPO adds the reference model's forward pass
        if peak:
            mfu = factor * params * rate / peak
            line += f", MFU {mfu:.1%}"
            if method == "sft":
                record_mfu(mfu, params, rate)
    print(line + f", peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


def record_mfu(mfu: float, params: int, rate: float) -> None:
    """The SFT check's MFU, where the cost plan reads it in place of costs.mfu (docs/costs.md)."""
    MEASURED_MFU.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "mfu": round(mfu, 4),
        "method": "sft",
        "gpu": torch.cuda.get_device_name(),
        "parameters": params,
        "tokens_per_second": round(rate),
        "date": time.strftime("%Y-%m-%d"),
    }
    MEASURED_MFU.write_text(json.dumps(record, indent=1) + "\n")
    print(f"MFU written to {MEASURED_MFU}")


def check_vllm(model_path: Path, world: Path) -> None:
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        print("vLLM: not installed (the gpu env installs it)")
        return
    prompts = [
        json.loads(line)["prompt"]
        for line in (world / "prompts/generation.jsonl").read_text().splitlines()
    ]
    llm = LLM(model=str(model_path), dtype="bfloat16", gpu_memory_utilization=0.3)
    start = time.perf_counter()
    outs = llm.generate(prompts * 8, SamplingParams(temperature=1.0, max_tokens=128, seed=0))
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    print(
        f"vLLM: {len(outs)} samples, {tokens / (time.perf_counter() - start):,.0f} generated "
        "tokens/s"
    )


def check_qlora(model_path: Path, world: Path, out: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        print("QLoRA: bitsandbytes not installed (the gpu env installs it)")
        return
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    quant = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
    )
    model = AutoModelForCausalLM.from_pretrained(
        model_path, quantization_config=quant, dtype=torch.bfloat16
    )
    data = load_dataset(
        "json", data_files=str(world / "sft/train.jsonl"), split="train"
    ).select_columns(["messages"])
    args = SFTConfig(
        output_dir=str(out / "qlora"),
        bf16=True,
        max_steps=20,
        report_to="none",
        save_strategy="no",
        per_device_train_batch_size=16,
        max_length=512,
        optim="paged_adamw_32bit",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=AutoTokenizer.from_pretrained(model_path),
        peft_config=LoraConfig(
            r=16, lora_alpha=16, task_type="CAUSAL_LM", target_modules="all-linear"
        ),
    )
    result = trainer.train()
    print(
        "QLoRA (4-bit NF4 + LoRA r16, paged AdamW): "
        f"{result.metrics['train_samples_per_second']:.1f} samples/s, loss "
        f"{result.metrics['train_loss']:.3f}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        out = Path(tmp)
        world, model = build(out)
        checks = [
            ("bf16 and flash-attention", lambda: check_bf16_and_flash_attention(model)),
            ("SFT throughput", lambda: train_throughput("sft", model, world, out)),
            ("DPO throughput", lambda: train_throughput("dpo", model, world, out)),
            ("vLLM sampling", lambda: check_vllm(model, world)),
            ("QLoRA", lambda: check_qlora(model, world, out)),
        ]
        failed = 0
        for name, check in checks:
            try:
                check()
            except Exception as err:  # every check reports and the next one runs
                failed += 1
                print(
                    f"{name}: FAILED ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''})"
                )
                traceback.print_exc(limit=2)
        raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
