"""What a model reference may name: a folder (a typo is said as such), a hub id pinned with
@revision, a LoRA adapter folder (loaded onto its base), a SentencePiece tokenizer."""

from __future__ import annotations

import shutil

import pytest
import torch
from tiny_model import SMALL_ARCH

from handbook.hub import is_hub_id, split_revision
from handbook.modeling import ModelError, from_pretrained, init_llama, train_tokenizer


@pytest.mark.parametrize(
    "source, expected",
    [
        ("HuggingFaceH4/zephyr-7b-beta@3bac358", ("HuggingFaceH4/zephyr-7b-beta", "3bac358")),
        ("gpt2@main", ("gpt2", "main")),
        ("HuggingFaceH4/zephyr-7b-beta", ("HuggingFaceH4/zephyr-7b-beta", None)),
        ("results/models/sft/a@b", ("results/models/sft/a@b", None)),
        ("./models/x@y", ("./models/x@y", None)),
    ],
)
def test_a_hub_id_may_pin_a_revision(source, expected):
    assert split_revision(source) == expected


def test_a_pinned_hub_id_is_a_hub_id():
    assert is_hub_id("HuggingFaceH4/zephyr-7b-beta@3bac358")


@pytest.mark.parametrize("path", ["results/models/sft/tinyy", "./my-models/x", "/no/such/model"])
def test_a_local_path_that_does_not_exist_is_said_so(path):
    from transformers import AutoModelForCausalLM

    with pytest.raises(ModelError, match="no such model folder"):
        from_pretrained(AutoModelForCausalLM, path)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base") / "model"
    tokenizer = train_tokenizer([f"word{i} other{i}" for i in range(60)], vocab_size=300)
    init_llama(tokenizer, SMALL_ARCH, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_lora_adapter_folder_loads_onto_its_base_merged(base, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = from_pretrained(AutoModelForCausalLM, str(base))
    lora = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights=False)
    )
    lora.save_pretrained(tmp_path / "adapter")  # adapter_config.json names the base's folder
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        expected = lora(input_ids=ids).logits
    loaded = from_pretrained(AutoModelForCausalLM, str(tmp_path / "adapter"))
    assert not hasattr(loaded, "peft_config")  # a plain model, the adapter merged in
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, expected, atol=1e-5)
    base_logits = from_pretrained(AutoModelForCausalLM, str(base))(input_ids=ids).logits
    assert not torch.allclose(base_logits, expected, atol=1e-5)
    tokenizer = from_pretrained(AutoTokenizer, str(tmp_path / "adapter"))  # the base's
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(base).chat_template


def test_a_sentencepiece_tokenizer_model_loads(tmp_path):
    import sentencepiece
    from transformers import AutoTokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the town of place{i} sells fish{i % 7}" for i in range(300)))
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(tmp_path / "sp"), vocab_size=40, minloglevel=2
    )
    # As older Llama and Mistral folders ship it: tokenizer.model and its class, no tokenizer.json.
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    shutil.copy(tmp_path / "sp.model", folder / "tokenizer.model")
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "LlamaTokenizer"}')
    tokenizer = from_pretrained(AutoTokenizer, str(folder))
    assert tokenizer.decode(tokenizer("the town")["input_ids"], skip_special_tokens=True) == (
        "the town"
    )
