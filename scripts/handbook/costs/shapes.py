"""A model's shape, read from its config.json, and the parameter counts the cost plan needs.

The counts follow the modules a decoder-only transformer in transformers has: token embeddings
(and learned positions for GPT-2), per layer an attention block with grouped-query heads and an
MLP (gated: gate, up and down projections; plain: up and down), its norms, then a final norm and
the output head (shared with the embeddings when tied). A mixture of experts has one MLP per
expert and a router; every expert counts for memory, only the experts each token uses for FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

# LoRA target names (Llama-style modules) -> which projection they are.
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    tie_word_embeddings: bool
    head_dim: int | None = None  # when not hidden_size / heads (Gemma: 256)
    num_local_experts: int = 0  # 0: a dense MLP
    num_experts_per_tok: int = 0
    gated_mlp: bool = True  # gate, up, down (Llama, Mistral, Qwen); False: up, down (GPT-2)
    bias: str = "none"  # none | qkv (Qwen2: biased q, k, v) | all (GPT-2, StarCoder2)
    learned_positions: int = 0  # rows of a learned position embedding (GPT-2); 0 with RoPE

    # --- per layer

    @property
    def head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    def projection_dims(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer of one layer's attention and one expert's MLP."""
        h, i, head = self.hidden_size, self.intermediate_size, self.head
        q, kv = self.num_attention_heads * head, self.num_key_value_heads * head
        dims = {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h)}
        dims.update({"gate_proj": (h, i), "up_proj": (h, i)} if self.gated_mlp else {})
        dims.update({"up_proj": (h, i)} if not self.gated_mlp else {})
        dims["down_proj"] = (i, h)
        return dims

    def projection_params(self, modules) -> int:
        """Weights of these projections, with their biases where every projection has one."""
        dims = {name: d for name, d in self.projection_dims().items() if name in modules}
        weights = sum(a * b for a, b in dims.values())
        return weights + (sum(b for _, b in dims.values()) if self.bias == "all" else 0)

    def attention_params(self) -> int:
        weights = self.projection_params(ATTENTION_MODULES)
        if self.bias == "qkv":
            dims = self.projection_dims()
            weights += sum(dims[name][1] for name in ("q_proj", "k_proj", "v_proj"))
        return weights

    def expert_params(self) -> int:
        """One MLP (one expert of a mixture)."""
        return self.projection_params(MLP_MODULES)

    def norm_params(self) -> int:
        """One norm: RMSNorm has a weight, LayerNorm (GPT-2, StarCoder2) a weight and a bias."""
        return self.hidden_size * (2 if self.bias == "all" else 1)

    def layer_params(self, experts: int) -> int:
        router = self.hidden_size * self.num_local_experts
        return (
            self.attention_params()
            + experts * self.expert_params()
            + router
            + 2 * self.norm_params()
        )

    # --- whole model

    @property
    def experts(self) -> int:
        return max(self.num_local_experts, 1)

    @property
    def active_experts(self) -> int:
        return self.num_experts_per_tok or self.experts

    def embedding_params(self) -> int:
        return (self.vocab_size + self.learned_positions) * self.hidden_size

    def head_params(self) -> int:
        return 0 if self.tie_word_embeddings else self.vocab_size * self.hidden_size

    def outside_layers(self) -> int:
        return self.embedding_params() + self.head_params() + self.norm_params()

    def total_params(self) -> int:
        """Every parameter: what weights, gradients and optimizer states are sized by."""
        return self.outside_layers() + self.num_hidden_layers * self.layer_params(self.experts)

    def active_params(self) -> int:
        """Parameters each token goes through: what 6·N·tokens counts (a mixture's chosen
        experts only)."""
        return self.outside_layers() + self.num_hidden_layers * self.layer_params(
            self.active_experts
        )

    def linear_params(self) -> int:
        """Weights of the layers' linear modules: what a 4-bit QLoRA load quantizes (bitsandbytes
        leaves the embeddings, the output head and the norms in 16 bits)."""
        per_layer = sum(a * b for a, b in self.projection_dims().values())
        mlp = sum(a * b for n, (a, b) in self.projection_dims().items() if n in MLP_MODULES)
        per_layer += (self.experts - 1) * mlp + self.hidden_size * self.num_local_experts
        return self.num_hidden_layers * per_layer

    def lora_params(self, targets, rank: int) -> tuple[int, list[str]]:
        """LoRA adapters' parameters, r x (in + out) per targeted module and layer (each expert's
        MLP modules count once per expert), and the target names this shape has no module for.
        'all-linear' targets every projection."""
        dims = self.projection_dims()
        names = list(dims) if targets in ("all-linear", ["all-linear"]) else list(targets or [])
        unknown = [n for n in names if n not in dims]
        per_layer = 0
        for name in (n for n in names if n in dims):
            copies = self.experts if name in MLP_MODULES else 1
            per_layer += copies * rank * sum(dims[name])
        return self.num_hidden_layers * per_layer, unknown


def shape_from_config(config: dict) -> ModelShape | None:
    """A config.json's shape, or None when it lacks a size this needs. Reads the Llama-style keys
    and GPT-2's (n_embd, n_layer, n_head, n_inner, n_positions); a multimodal model's text
    config."""
    config = config.get("text_config") or config
    kind = config.get("model_type", "")
    if kind == "gpt2" or "n_embd" in config:
        hidden = config.get("n_embd")
        config = {
            "hidden_size": hidden,
            "num_hidden_layers": config.get("n_layer"),
            "intermediate_size": config.get("n_inner") or 4 * (hidden or 0),
            "num_attention_heads": config.get("n_head"),
            "vocab_size": config.get("vocab_size"),
            "tie_word_embeddings": config.get("tie_word_embeddings", True),
            "learned_positions": config.get("n_positions", 1024),
            "gated_mlp": False,
            "bias": "all",
        }
    needed = ("hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads")
    if any(not config.get(key) for key in (*needed, "vocab_size")):
        return None
    if "bias" in config:
        bias = config["bias"]
    elif kind == "starcoder2" or config.get("use_bias"):
        bias = "all"
    elif kind == "qwen2" or config.get("attention_bias"):
        bias = "qkv"
    else:
        bias = "none"
    return ModelShape(
        **{key: int(config[key]) for key in needed},
        num_key_value_heads=int(config.get("num_key_value_heads") or config["num_attention_heads"]),
        vocab_size=int(config["vocab_size"]),
        # transformers' PretrainedConfig ties them unless the config says not to.
        tie_word_embeddings=bool(config.get("tie_word_embeddings", True)),
        head_dim=config.get("head_dim"),
        num_local_experts=int(config.get("num_local_experts") or 0),
        num_experts_per_tok=int(config.get("num_experts_per_tok") or 0),
        gated_mlp=config.get("gated_mlp", kind != "starcoder2"),
        bias=bias,
        learned_positions=int(config.get("learned_positions", 0)),
    )
