"""The safetensors folder converted once from the GGUF holds the very same weights."""

import torch
from transformers import AutoModelForCausalLM

from attune.services.model.weights import converted_dir, ensure_converted, smollm2_gguf


def test_converted_weights_equal_the_gguf(models, data_dir):
    folder = ensure_converted(data_dir)
    assert folder == converted_dir(data_dir)
    gguf = smollm2_gguf()
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).state_dict()
    converted = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).state_dict()
    assert direct.keys() == converted.keys()
    for name, tensor in direct.items():
        assert torch.equal(tensor, converted[name]), name


def test_conversion_is_atomic_and_reused(models, data_dir):
    first = ensure_converted(data_dir)
    mtime = (first / "model.safetensors").stat().st_mtime
    assert ensure_converted(data_dir) == first
    assert (first / "model.safetensors").stat().st_mtime == mtime
    assert not list(first.parent.glob(".convert-*")), "no half-written conversion is left behind"
