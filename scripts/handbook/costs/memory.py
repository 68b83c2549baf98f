"""Memory per GPU of a training job: weights, gradients and optimizer states at the job's precision,
sharded as its accelerate config says (DeepSpeed ZeRO stage, FSDP strategy, or none), and the
activations of one micro-batch. The formulas are written out in docs/costs.md."""

from __future__ import annotations

from dataclasses import dataclass

from handbook.costs.shapes import ModelShape
from handbook.plan.core import Plan, Run
from handbook.plan.recipes import read_yaml
from handbook.plan.train import accelerate_config

GIB = 2**30
# CUDA context, NCCL buffers and the allocator's reserve: a round figure, not a measurement.
OTHER_BYTES = 2 * GIB
# Bytes per element kept for one token in one layer, in units of the activation dtype: the
# inputs of both norms and of the q/k/v, o, gate/up and down projections, q/k/v themselves,
# the attention output, the gate and up outputs, the activation and the product (7 vectors of
# hidden_size, 4 of intermediate_size); flash attention keeps no seq x seq scores.
HIDDEN_VECTORS, INTERMEDIATE_VECTORS = 7, 4
# Bytes per logit: the bf16 logits, their fp32 upcast for the loss and the fp32 log-softmax kept
# for the backward pass.
LOGIT_BYTES = 2 + 4 + 4
# Without a backward pass: the logits and their fp32 upcast.
INFERENCE_LOGIT_BYTES = 2 + 4
# FSDP strategies -> the ZeRO stage they match (HYBRID_SHARD shards within a node).
FSDP_STAGES = {"FULL_SHARD": 3, "HYBRID_SHARD": 3, "SHARD_GRAD_OP": 2, "NO_SHARD": 0}


@dataclass(frozen=True)
class Sharding:
    kind: str  # ddp | deepspeed | fsdp
    stage: int  # 0: none; 1: optimizer states; 2: and gradients; 3: and parameters
    shards: int  # GPUs the sharded states are split over

    def describe(self) -> str:
        if self.kind == "deepspeed":
            return f"ZeRO-{self.stage} over {self.shards} GPU(s)"
        if self.kind == "fsdp":
            return f"FSDP (stage {self.stage}) over {self.shards} GPU(s)"
        return "DDP, not sharded"


@dataclass(frozen=True)
class Memory:
    """Bytes per GPU."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    other: float = OTHER_BYTES

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.other


def sharding(plan: Plan, run: Run) -> Sharding:
    """How the run's accelerate config shards its states over the GPUs it asks for (the default
    config for GPU runs, as the launcher picks it)."""
    accel = read_yaml(accelerate_config(plan, run, on_gpus=True))
    gpus = max(run.requested_gpus, 1)
    if accel.get("distributed_type") == "DEEPSPEED":
        stage = int((accel.get("deepspeed_config") or {}).get("zero_stage", 0))
        return Sharding("deepspeed", stage, gpus)
    if accel.get("distributed_type") == "FSDP":
        fsdp = accel.get("fsdp_config") or {}
        strategy = str(fsdp.get("fsdp_sharding_strategy", "FULL_SHARD")).upper()
        per_node = strategy == "HYBRID_SHARD"
        shards = (run.requested_gpus_per_node or run.gpus_per_node) if per_node else gpus
        return Sharding("fsdp", FSDP_STAGES.get(strategy, 3), max(shards, 1))
    return Sharding("ddp", 0, gpus)


def state_bytes(settings: dict, shard: Sharding) -> tuple[int, int, int]:
    """Bytes per trained parameter of its weight, gradient and optimizer state. DeepSpeed keeps
    fp32 master weights and Adam moments beside 16-bit weights and gradients (2 + 2 + 12);
    accelerate's FSDP upcasts 16-bit parameters to fp32 for mixed precision (4 + 4 + 8); plain DDP
    trains in the loaded dtype, torch's AdamW keeping its two moments in it (a bf16 model: 2 + 2 +
    4). 8-bit optimizers keep 2 bytes of moments; 32-bit ones (paged_adamw_32bit) 8."""
    weight = 2 if half_precision(settings) else 4
    optim = str(settings.get("optim", "adamw_torch"))
    if shard.kind == "deepspeed":
        return weight, weight, 12 if weight == 2 else 8
    if shard.kind == "fsdp":
        weight = 4
    moments = 2 if "8bit" in optim else 8 if "32bit" in optim else 2 * weight
    return weight, weight, moments


def half_precision(settings: dict) -> bool:
    """Weights held in 16 bits: a bf16/fp16 dtype, or bf16/fp16 training without one."""
    dtype = str(settings.get("dtype", "")).replace("torch.", "")
    if dtype in ("bfloat16", "float16"):
        return True
    return dtype in ("", "auto", "None") and bool(settings.get("bf16") or settings.get("fp16"))


def training_memory(
    settings: dict,
    shape: ModelShape,
    shard: Sharding,
    tokens_per_micro_batch: float,
    gpu_bytes: float,
    trained: int | None = None,
    frozen_copies: int = 0,
) -> Memory:
    """Weights, gradients, optimizer states and activations per GPU of `gpu_bytes`. `trained` is
    the adapters' parameter count of a LoRA run (the base is frozen: weights only, 4-bit under
    QLoRA); `frozen_copies` a second full model kept in memory (KTO's reference)."""
    total = shape.total_params()
    weight, grad, optim = state_bytes(settings, shard)
    shards = [shard.shards if shard.stage >= level else 1 for level in (3, 2, 1)]
    if trained is None:
        weights = total * weight / shards[0]
        grads, states = total * grad / shards[1], total * optim / shards[2]
    else:
        # Adapters in fp32 (PEFT's default beside a 16-bit base), Adam moments in fp32.
        weights = frozen_weight_bytes(settings, shape) / shards[0] + trained * 4 / shards[0]
        grads, states = trained * 4 / shards[1], trained * 8 / shards[2]
    weights += frozen_copies * total * 2 / shards[0]
    activations = activation_bytes(settings, shape, tokens_per_micro_batch)
    other = OTHER_BYTES
    if settings.get("use_vllm") and settings.get("vllm_mode", "colocate") == "colocate":
        # vLLM beside the trainer reserves its share of the GPU (TRL's default: 0.3).
        other += float(settings.get("vllm_gpu_memory_utilization", 0.3)) * gpu_bytes
    return Memory(weights, grads, states, activations, other)


def frozen_weight_bytes(settings: dict, shape: ModelShape) -> float:
    """A LoRA run's frozen base: 16 bits per parameter, or under QLoRA 4 bits per linear weight
    plus one fp32 absmax per 64 (1 byte per 64 with nested quantization) and the embeddings,
    head and norms in 16 bits."""
    total = shape.total_params()
    if not settings.get("load_in_4bit"):
        return total * (2 if half_precision(settings) else 4)
    linear = shape.linear_params()
    per_weight = 0.5 + (1 if settings.get("use_bnb_nested_quant") else 4) / 64
    return linear * per_weight + (total - linear) * 2


def activation_bytes(settings: dict, shape: ModelShape, tokens: float) -> float:
    """One micro-batch of `tokens`: with gradient checkpointing each layer's input plus one
    layer's saved tensors (recomputed in the backward pass), else every layer's; and the logits."""
    unit = 2 if half_precision(settings) or settings.get("bf16") else 4
    intermediate = shape.intermediate_size * shape.active_experts
    layer = unit * (HIDDEN_VECTORS * shape.hidden_size + INTERMEDIATE_VECTORS * intermediate)
    if settings.get("gradient_checkpointing"):
        per_token = shape.num_hidden_layers * unit * shape.hidden_size + layer
    else:
        per_token = shape.num_hidden_layers * layer
    return tokens * (per_token + shape.vocab_size * LOGIT_BYTES)


def inference_memory(settings: dict, shape: ModelShape, tokens_per_batch: float) -> Memory:
    """A forward pass without gradients (the reference log-probs): 16-bit weights, one layer's
    tensors at a time and the logits."""
    unit = 2 if half_precision(settings) else 4
    intermediate = shape.intermediate_size * shape.active_experts
    layer = unit * (HIDDEN_VECTORS * shape.hidden_size + INTERMEDIATE_VECTORS * intermediate)
    logits = tokens_per_batch * shape.vocab_size * INFERENCE_LOGIT_BYTES
    return Memory(shape.total_params() * unit, 0, 0, tokens_per_batch * layer + logits)
